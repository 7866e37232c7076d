"""What a stage is, resolved once when it is declared: its kind, span name and fixed attributes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.util.types import AttributeValue

from agenttrace import _names as sc
from agenttrace._instrument import providers as _providers

#: Stage names that mean "a call to a model" when no operation, model or provider says so.
LLM_STAGE_NAMES = frozenset({"llm", "llm_call", "llm_request", "chat", "completion", "generate", "generation"})
#: Stage names that mean "a tool execution" when no tool or operation says so.
TOOL_STAGE_NAMES = frozenset({"tool", "tool_call", "tool_execution", "tool_use", "execute_tool"})

LLM = "llm"
TOOL = "tool"
OTHER = "other"


def _check_str(value: object, what: str) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise TypeError(f"agenttrace.stage: {what} must be a non-empty string, got {value!r}")


def _check_attributes(attributes: object) -> dict[str, AttributeValue]:
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        raise TypeError(f"agenttrace.stage: attributes must be a mapping, got {type(attributes).__name__}")
    allowed = (str, bool, int, float)
    checked: dict[str, AttributeValue] = {}
    for key, value in attributes.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"agenttrace.stage: attribute keys must be non-empty strings, got {key!r}")
        ok = isinstance(value, allowed) or (
            isinstance(value, (list, tuple)) and all(isinstance(v, allowed) for v in value)
        )
        if not ok:
            raise TypeError(f"agenttrace.stage: attribute {key!r} has unsupported value {value!r}")
        checked[key] = tuple(value) if isinstance(value, list) else value
    return checked


@dataclass(frozen=True)
class StageSpec:
    """A declared stage. Immutable and shared by every call of a decorated function."""

    name: str
    kind: str
    operation: str | None
    model: str | None
    provider: str | None
    tool: str | None
    span_name: str
    span_kind: trace.SpanKind
    attributes: Mapping[str, AttributeValue]
    capture_content: bool
    tracer_provider: trace.TracerProvider | None
    meter_provider: metrics.MeterProvider | None
    _tracer: list[trace.Tracer] = field(default_factory=list, compare=False, repr=False)
    stage_metric_attributes: Mapping[str, AttributeValue] = field(default_factory=dict, compare=False, repr=False)
    operation_metric_attributes: Mapping[str, AttributeValue] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(
        cls,
        name: object,
        *,
        model: object = None,
        provider: object = None,
        tool: object = None,
        operation: object = None,
        attributes: object = None,
        capture_content: bool = False,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> StageSpec:
        """Validate the arguments of ``agenttrace.stage(...)`` and resolve the stage's kind and names."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"agenttrace.stage: the stage name must be a non-empty string, got {name!r}")
        for value, what in ((model, "model"), (provider, "provider"), (tool, "tool"), (operation, "operation")):
            _check_str(value, what)
        assert model is None or isinstance(model, str)
        assert provider is None or isinstance(provider, str)
        assert tool is None or isinstance(tool, str)
        assert operation is None or isinstance(operation, str)
        extra = _check_attributes(attributes)
        if tool is not None or operation == sc.OP_EXECUTE_TOOL:
            kind = TOOL
        elif model is not None or provider is not None or operation in sc.LLM_OPERATIONS:
            kind = LLM
        elif operation is None and name in TOOL_STAGE_NAMES:
            kind = TOOL
        elif operation is None and name in LLM_STAGE_NAMES:
            kind = LLM
        else:
            kind = OTHER
        if kind == LLM and operation is None:
            operation = sc.OP_CHAT
        elif kind == TOOL:
            operation = sc.OP_EXECUTE_TOOL
        spec = cls(
            name=name,
            kind=kind,
            operation=operation,
            model=model,
            provider=provider,
            tool=tool,
            span_name="",
            span_kind=trace.SpanKind.CLIENT if kind == LLM else trace.SpanKind.INTERNAL,
            attributes={},
            capture_content=capture_content,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )
        return spec._resolved(extra)

    def _resolved(self, extra: Mapping[str, AttributeValue]) -> StageSpec:
        attributes: dict[str, AttributeValue] = {sc.STAGE: self.name}
        if self.operation is not None:
            attributes[sc.GEN_AI_OPERATION_NAME] = self.operation
        if self.kind == LLM:
            span_name = f"{self.operation} {self.model}" if self.model else str(self.operation)
            if self.provider is not None:
                attributes[sc.GEN_AI_PROVIDER_NAME] = self.provider
            if self.model is not None:
                attributes[sc.GEN_AI_REQUEST_MODEL] = self.model
        elif self.kind == TOOL:
            span_name = f"{sc.OP_EXECUTE_TOOL} {self.tool}" if self.tool else sc.OP_EXECUTE_TOOL
            if self.tool is not None:
                attributes[sc.GEN_AI_TOOL_NAME] = self.tool
        else:
            span_name = self.name
        attributes.update(extra)
        resolved = replace(self, span_name=span_name, attributes=attributes, _tracer=[])
        # Metric attributes of the common case (no error, nothing learnt from the response), built once.
        object.__setattr__(resolved, "stage_metric_attributes", {sc.STAGE: self.name})
        operation_attributes = resolved.metric_attributes(self.provider, None, None)
        object.__setattr__(resolved, "operation_metric_attributes", operation_attributes)
        return resolved

    def for_function(self, function_name: str) -> StageSpec:
        """This spec for a decorated function: a tool stage without a tool name takes the function's name."""
        if self.kind == TOOL and self.tool is None:
            extra = {k: v for k, v in self.attributes.items() if k not in (sc.STAGE, sc.GEN_AI_OPERATION_NAME)}
            return replace(self, tool=function_name)._resolved(extra)
        return self

    @property
    def is_llm(self) -> bool:
        """Whether a call of this stage counts as an LLM call."""
        return self.kind == LLM

    @property
    def is_tool(self) -> bool:
        """Whether a call of this stage counts as a tool call."""
        return self.kind == TOOL

    def tracer(self) -> trace.Tracer:
        """The tracer to start this stage's spans with."""
        if self.tracer_provider is None:
            return _providers.current_tracer()
        if not self._tracer:
            self._tracer.append(_providers.get_tracer(self.tracer_provider))
        return self._tracer[0]

    def metric_attributes(self, provider: str | None, response_model: str | None, error_type: str | None) -> Any:
        """Attributes of the GenAI client metrics for one call of this stage."""
        attributes: dict[str, AttributeValue] = {sc.GEN_AI_OPERATION_NAME: self.operation or sc.OP_CHAT}
        if provider is not None:
            attributes[sc.GEN_AI_PROVIDER_NAME] = provider
        if self.model is not None:
            attributes[sc.GEN_AI_REQUEST_MODEL] = self.model
        if response_model is not None:
            attributes[sc.GEN_AI_RESPONSE_MODEL] = response_model
        if error_type is not None:
            attributes[sc.ERROR_TYPE] = error_type
        return attributes
