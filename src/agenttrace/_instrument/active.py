"""One running stage: its span, its usage so far, and how it ends.

An :class:`ActiveStage` is created per call (never shared between calls), lives in the OpenTelemetry context
while its code runs, and on ending writes its span attributes, reports into the request roll-up and records
metrics. Everything here runs behind the internal-error guard: a failure costs telemetry, never the call.
"""

from __future__ import annotations

import json
import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from agenttrace import _names as sc
from agenttrace._guard import guard
from agenttrace._instrument import metrics as _metrics
from agenttrace._instrument import providers as _providers
from agenttrace._instrument.outcome import _COMPLETED, _ERROR, Outcome, error_type, outcome_of, record_error
from agenttrace._instrument.rollup import RequestRollup, current_rollup
from agenttrace._instrument.spec import StageSpec
from agenttrace._instrument.usage import Usage, usage_from_chunk, usage_from_response

_ACTIVE_KEY = otel_context.create_key("agenttrace-active-stage")
_KNOWN_PROVIDERS = ("openai", "anthropic")
# Built once: the guards sit on every stage call (start and end use them through ``try``/``handle()``).
_GUARD_START = guard("stage.start")
_GUARD_END = guard("stage.end")
_GUARD_ITEM = guard("stage.on_item")
_GUARD_USAGE = guard("stage.record_usage")


class ActiveStage:
    """A stage while it runs. ``with agenttrace.stage(...) as s`` gives you one.

    Example:
        >>> with agenttrace.stage("llm_call", model="gpt-4o-mini") as s:  # doctest: +SKIP
        ...     s.record_usage(input_tokens=812, output_tokens=64)
    """

    __slots__ = (
        "spec",
        "span",
        "rollup",
        "context",
        "token",
        "start",
        "manual",
        "auto",
        "first_chunk",
        "provider",
        "ended",
    )

    def __init__(self, spec: StageSpec, span: trace.Span, rollup: RequestRollup | None, ctx: otel_context.Context):
        self.spec = spec
        self.span = span
        self.rollup = rollup
        self.context = otel_context.set_value(_ACTIVE_KEY, self, trace.set_span_in_context(span, ctx))
        self.token: object = None
        self.start = time.perf_counter()
        self.manual: Usage | None = None
        self.auto: Usage | None = None
        self.first_chunk: float | None = None
        #: ``gen_ai.provider.name``: as declared, else recognised from the response or stream returned.
        self.provider = spec.provider
        self.ended = False

    def record_usage(
        self,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        *,
        cache_read_input_tokens: int | None = None,
        cache_creation_input_tokens: int | None = None,
        reasoning_output_tokens: int | None = None,
        response_model: str | None = None,
    ) -> None:
        """Add token counts to this stage (they accumulate; they win over counts read from a response).

        Raises:
            TypeError: A count is not a non-negative ``int`` (a caller mistake, reported at the call).
        """
        counts = (input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens)
        for value in (*counts, reasoning_output_tokens):
            if value is not None and (type(value) is not int or value < 0):
                raise TypeError(f"agenttrace.record_usage: token counts must be non-negative ints, got {value!r}")
        with _GUARD_USAGE:
            if self.manual is None:
                self.manual = Usage()
            self.manual.add_tokens(
                input_tokens,
                output_tokens,
                cache_read_input_tokens=cache_read_input_tokens,
                cache_creation_input_tokens=cache_creation_input_tokens,
                reasoning_output_tokens=reasoning_output_tokens,
            )
            if response_model is not None:
                self.manual.response_model = response_model

    def set_attribute(self, key: str, value: Any) -> None:
        """Set an attribute on this stage's span."""
        self.span.set_attribute(key, value)

    def attach(self) -> object:
        """Make this stage current; returns the token for :meth:`detach`."""
        return otel_context.attach(self.context)

    @staticmethod
    def detach(token: object) -> None:
        """Undo :meth:`attach`."""
        otel_context.detach(token)  # type: ignore[arg-type]

    def note_result(self, result: Any) -> None:
        """Recognise the provider from the type of what the stage returned (openai / anthropic)."""
        if self.provider is None:
            root = type(result).__module__.partition(".")[0]
            if root in _KNOWN_PROVIDERS:
                self.provider = root

    def on_item(self, item: Any) -> None:
        """Note one yielded item / stream chunk: time to first chunk, and usage the chunk reports."""
        with _GUARD_ITEM:
            if self.first_chunk is None:
                self.first_chunk = time.perf_counter() - self.start
            if self.spec.is_llm:
                usage = usage_from_chunk(item)
                if usage is not None:
                    if self.auto is None:
                        self.auto = usage
                    else:
                        self.auto.merge(usage)

    def end(self, result: Any = None, error: BaseException | None = None, outcome: Outcome | None = None) -> None:
        """End the stage: span attributes and status, request roll-up, metrics. Idempotent.

        The one way every wrapper form ends its stage.

        Args:
            result: What the stage returned (read for usage, the provider and, if opted in, content).
            error: The exception the stage ended with, if any; ``outcome`` is classified from it.
            outcome: How it ended, when no exception says so (``CLOSED`` by ``close()``, ``ABANDONED``).
        """
        if self.ended:
            return
        self.ended = True
        if outcome is None:
            outcome = _COMPLETED if error is None else outcome_of(error)
        try:
            self._end(result, error, outcome)
        except Exception:
            _GUARD_END.handle()

    def _end(self, result: Any, error: BaseException | None, outcome: Outcome) -> None:
        duration = time.perf_counter() - self.start
        spec = self.spec
        if outcome is _ERROR and error is not None:
            etype: str | None = error_type(error)
        else:
            etype = error = None
        span = self.span
        try:  # whatever goes wrong while annotating, the span still ends
            usage = self._usage(result if error is None else None) if spec.is_llm else None
            if span.is_recording() and (
                usage is not None
                or outcome is not _COMPLETED
                or self.first_chunk is not None
                or self.provider is not spec.provider
                or spec.capture_content
            ):
                self._annotate(span, usage, self.provider, result, error, etype, outcome)
        finally:
            span.end()
        if usage is None:
            input_tokens = output_tokens = response_model = None
        else:
            input_tokens, output_tokens, response_model = usage.input_tokens, usage.output_tokens, usage.response_model
        rollup = self.rollup
        if rollup is not None:
            rollup.add_stage(spec.name, duration, spec.is_llm, spec.is_tool, input_tokens, output_tokens)
        instruments = _metrics.instruments_for(_providers.get_meter_provider(spec.meter_provider))
        if rollup is None:
            stage_attributes = spec.stage_metric_attributes
        else:
            stage_attributes = rollup.metric_attributes(spec.name)
        if etype is not None:
            stage_attributes = {**stage_attributes, sc.ERROR_TYPE: etype}
        instruments.stage_duration.record(duration, stage_attributes)
        if spec.is_llm:
            if etype is None and response_model is None and self.provider is spec.provider:
                attributes = spec.operation_metric_attributes
            else:
                attributes = spec.metric_attributes(self.provider, response_model, etype)
            instruments.record_operation(duration, attributes, input_tokens, output_tokens)

    def _usage(self, result: Any) -> Usage | None:
        """What this LLM call used: read from ``result`` and the stream, overridden by ``record_usage``."""
        if result is not None:
            found = usage_from_response(result)
            if found is not None:
                if self.auto is None:
                    self.auto = found
                else:
                    self.auto.merge(found)
            self.note_result(result)
        usage = self.auto
        if self.manual is not None:
            if usage is None:
                return self.manual
            usage.merge(self.manual)
        return usage

    def _annotate(
        self,
        span: trace.Span,
        usage: Usage | None,
        provider: str | None,
        result: Any,
        error: BaseException | None,
        etype: str | None,
        outcome: Outcome,
    ) -> None:
        spec = self.spec
        if usage is not None:
            span.set_attributes(usage.span_attributes())
            if spec.model is None and usage.response_model:
                span.update_name(f"{spec.operation} {usage.response_model}")
        if provider is not None and spec.provider is None:
            span.set_attribute(sc.GEN_AI_PROVIDER_NAME, provider)
        if self.first_chunk is not None and spec.is_llm:
            span.set_attribute(sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, self.first_chunk)
        if spec.capture_content and result is not None and error is None:
            text = _output_text(result)
            if text is not None:
                message = [{"role": "assistant", "parts": [{"type": "text", "content": text}]}]
                span.set_attribute(sc.GEN_AI_OUTPUT_MESSAGES, json.dumps(message))
        if error is not None and etype is not None:
            record_error(span, error, etype)
        if outcome is not _COMPLETED:
            span.set_attribute(sc.OUTCOME, outcome.value)


def _output_text(result: Any) -> str | None:
    """The completion text of a response object or a plain string (only with ``capture_content``)."""
    if isinstance(result, str):
        return result
    text = getattr(result, "output_text", None)  # OpenAI Responses
    if isinstance(text, str):
        return text
    choices = getattr(result, "choices", None)  # OpenAI chat completions
    if choices:
        content = getattr(getattr(choices[0], "message", None), "content", None)
        return content if isinstance(content, str) else None
    blocks = getattr(result, "content", None)  # Anthropic messages
    if isinstance(blocks, list):
        texts = [getattr(b, "text", None) for b in blocks]
        return "".join(t for t in texts if isinstance(t, str)) or None
    return None


def current_stage() -> ActiveStage | None:
    """The innermost stage running in the current context, if any."""
    found = otel_context.get_value(_ACTIVE_KEY)
    return found if isinstance(found, ActiveStage) else None


def start_stage(spec: StageSpec) -> ActiveStage | None:
    """Start a stage span under the current context; ``None`` if agenttrace itself failed."""
    try:
        ctx = otel_context.get_current()
        rollup = current_rollup(ctx)
        attributes = spec.attributes
        if rollup is not None and rollup.identity:
            attributes = {**attributes, **rollup.identity}
        span = spec.tracer().start_span(spec.span_name, ctx, kind=spec.span_kind, attributes=attributes)
        return ActiveStage(spec, span, rollup, ctx)
    except Exception:
        _GUARD_START.handle()
        return None


def record_usage(
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    *,
    cache_read_input_tokens: int | None = None,
    cache_creation_input_tokens: int | None = None,
    reasoning_output_tokens: int | None = None,
    response_model: str | None = None,
) -> bool:
    """Add token counts to the innermost running stage.

    Returns whether there was a stage to record into (outside any stage this does nothing).

    Example:
        >>> agenttrace.record_usage(input_tokens=812, output_tokens=64)  # doctest: +SKIP
    """
    active = current_stage()
    if active is None:
        return False
    active.record_usage(
        input_tokens,
        output_tokens,
        cache_read_input_tokens=cache_read_input_tokens,
        cache_creation_input_tokens=cache_creation_input_tokens,
        reasoning_output_tokens=reasoning_output_tokens,
        response_model=response_model,
    )
    return True
