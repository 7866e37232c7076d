"""``agenttrace.request``: a request roll-up for entry points that are not HTTP (queue workers, CLIs, jobs).

It opens a span for the unit of work and a :class:`~agenttrace._instrument.rollup.RequestRollup` that every stage
inside reports into, then writes the roll-up onto the span when the block ends. The ASGI middleware does
the same for HTTP requests.
"""

from __future__ import annotations

from types import TracebackType

from opentelemetry import context as otel_context
from opentelemetry import trace

from agenttrace._guard import guard
from agenttrace._instrument import providers as _providers
from agenttrace._instrument.outcome import Outcome, error_type, outcome_of, record_error
from agenttrace._instrument.rollup import RequestRollup, current_rollup, identity_from_baggage, with_rollup
from agenttrace._names import IDENTITY_KEYS, OUTCOME


class request:  # noqa: N801 - used like a function: with agenttrace.request("job"):
    """Account every stage of one unit of work and roll the totals up onto its span.

    The load-run identity comes from the W3C baggage in the current context unless given here.

    Args:
        name: The span name (e.g. ``"process_ticket"``).
        run_id: ``agenttrace.run_id`` for every span inside.
        scenario: ``agenttrace.scenario`` for every span inside.
        user: ``agenttrace.user`` for every span inside.
        kind: The span kind; ``CONSUMER`` suits queue workers.
        tracer_provider: Use this provider instead of the global one.

    Example:
        >>> with agenttrace.request("process_ticket") as req:  # doctest: +SKIP
        ...     handle(ticket)
        >>> req.llm_calls, req.input_tokens  # doctest: +SKIP
    """

    __slots__ = ("_name", "_identity", "_kind", "_tracer_provider", "_open")

    def __init__(
        self,
        name: str,
        *,
        run_id: str | None = None,
        scenario: str | None = None,
        user: str | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"agenttrace.request: the name must be a non-empty string, got {name!r}")
        given = dict(zip(IDENTITY_KEYS, (run_id, scenario, user), strict=True))
        self._identity = {k: v for k, v in given.items() if v is not None}
        self._name = name
        self._kind = kind
        self._tracer_provider = tracer_provider
        # Open blocks by rollup: one ``request`` object may be entered by several tasks at once, and each
        # task's context holds its own rollup, which finds its own span on exit.
        self._open: dict[int, tuple[trace.Span, object]] = {}

    def __enter__(self) -> RequestRollup:
        with guard("request.enter"):
            ctx = otel_context.get_current()
            identity = {**identity_from_baggage(ctx), **self._identity}
            rollup = RequestRollup(identity)
            span = _providers.get_tracer(self._tracer_provider).start_span(
                self._name, ctx, kind=self._kind, attributes=identity
            )
            token = otel_context.attach(with_rollup(rollup, trace.set_span_in_context(span, ctx)))
            self._open[id(rollup)] = (span, token)
            return rollup
        return RequestRollup()  # the fallback: counts nothing, records nothing

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        rollup = current_rollup()
        entry = self._open.pop(id(rollup), None) if rollup is not None else None
        if rollup is None or entry is None:
            return  # __enter__ fell back to a no-op
        span, token = entry
        with guard("request.exit"):
            otel_context.detach(token)  # type: ignore[arg-type]
            if span.is_recording():
                span.set_attributes(rollup.rollup_attributes())
                outcome = outcome_of(exc)
                if outcome is Outcome.ERROR and exc is not None:
                    record_error(span, exc, error_type(exc))
                if outcome is not Outcome.COMPLETED:
                    span.set_attribute(OUTCOME, outcome.value)
            span.end()

    async def __aenter__(self) -> RequestRollup:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)
