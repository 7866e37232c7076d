"""What a stage is, resolved once when it is declared: its kind, span name and fixed attributes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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


def _kind_and_operation(
    name: str, tool: str | None, model: str | None, provider: str | None, operation: str | None
) -> tuple[str, str | None]:
    """What kind of stage the arguments declare, and its ``gen_ai.operation.name`` (``None`` for others)."""
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
    return kind, operation


def _metric_attributes(
    operation: str | None,
    model: str | None,
    provider: str | None,
    response_model: str | None,
    error_type: str | None,
) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {sc.GEN_AI_OPERATION_NAME: operation or sc.OP_CHAT}
    if provider is not None:
        attributes[sc.GEN_AI_PROVIDER_NAME] = provider
    if model is not None:
        attributes[sc.GEN_AI_REQUEST_MODEL] = model
    if response_model is not None:
        attributes[sc.GEN_AI_RESPONSE_MODEL] = response_model
    if error_type is not None:
        attributes[sc.ERROR_TYPE] = error_type
    return attributes


@dataclass(frozen=True)
class StageSpec:
    """A declared stage. Immutable and shared by every call of a decorated function.

    Build it with :meth:`build`: every field, derived ones included, is computed before the object exists.
    """

    name: str
    kind: str
    operation: str | None
    model: str | None
    provider: str | None
    tool: str | None
    span_name: str
    span_kind: trace.SpanKind
    #: Every fixed span attribute: the stage's own names, then the caller's ``extra_attributes``.
    attributes: Mapping[str, AttributeValue]
    #: The ``attributes=`` the caller passed, validated.
    extra_attributes: Mapping[str, AttributeValue]
    capture_content: bool
    tracer_provider: trace.TracerProvider | None
    meter_provider: metrics.MeterProvider | None
    #: The tracer of ``tracer_provider``, if one was given (else the current one is looked up per call).
    own_tracer: trace.Tracer | None = field(compare=False, repr=False)
    #: Metric attributes of the common case (no error, nothing learnt from the response), built once.
    stage_metric_attributes: Mapping[str, AttributeValue] = field(compare=False, repr=False)
    operation_metric_attributes: Mapping[str, AttributeValue] = field(compare=False, repr=False)

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
        kind, op = _kind_and_operation(name, tool, model, provider, operation)
        fixed: dict[str, AttributeValue] = {sc.STAGE: name}
        if op is not None:
            fixed[sc.GEN_AI_OPERATION_NAME] = op
        if kind == LLM:
            span_name = f"{op} {model}" if model else str(op)
            if provider is not None:
                fixed[sc.GEN_AI_PROVIDER_NAME] = provider
            if model is not None:
                fixed[sc.GEN_AI_REQUEST_MODEL] = model
        elif kind == TOOL:
            span_name = f"{sc.OP_EXECUTE_TOOL} {tool}" if tool else sc.OP_EXECUTE_TOOL
            if tool is not None:
                fixed[sc.GEN_AI_TOOL_NAME] = tool
        else:
            span_name = name
        return cls(
            name=name,
            kind=kind,
            operation=op,
            model=model,
            provider=provider,
            tool=tool,
            span_name=span_name,
            span_kind=trace.SpanKind.CLIENT if kind == LLM else trace.SpanKind.INTERNAL,
            attributes={**fixed, **extra},
            extra_attributes=extra,
            capture_content=capture_content,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            own_tracer=None if tracer_provider is None else _providers.get_tracer(tracer_provider),
            stage_metric_attributes={sc.STAGE: name},
            operation_metric_attributes=_metric_attributes(op, model, provider, None, None),
        )

    def for_function(self, function_name: str) -> StageSpec:
        """This spec for a decorated function: a tool stage without a tool name takes the function's name."""
        if self.kind == TOOL and self.tool is None:
            return StageSpec.build(
                self.name,
                model=self.model,
                provider=self.provider,
                tool=function_name,
                operation=self.operation,
                attributes=self.extra_attributes,
                capture_content=self.capture_content,
                tracer_provider=self.tracer_provider,
                meter_provider=self.meter_provider,
            )
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
        own = self.own_tracer
        return own if own is not None else _providers.current_tracer()

    def metric_attributes(
        self, provider: str | None, response_model: str | None, error_type: str | None
    ) -> dict[str, AttributeValue]:
        """Attributes of the GenAI client metrics for one call of this stage."""
        return _metric_attributes(self.operation, self.model, provider, response_model, error_type)
