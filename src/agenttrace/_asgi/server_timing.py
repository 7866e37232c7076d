"""The response headers that tell the caller where the time went: ``Server-Timing`` and ``traceresponse``.

``Server-Timing: llm_call;dur=812.4;desc="3", tool_execution;dur=40.1;desc="1", llm_calls;desc="3",
tool_calls;desc="1", input_tokens;desc="1200", output_tokens;desc="310", total;dur=903.2,
trace;desc="00-<trace_id>-<span_id>-01"``: one metric per stage that finished before the headers were sent
(``dur`` is its summed milliseconds, ``desc`` how often it ran), then the request's agent costs so far (LLM
calls, tool calls, input and output tokens: always present, ``0`` when none), the time to the headers, and the
trace. :mod:`agenttrace.servertiming` parses it back.
``traceresponse`` (W3C Trace Context level 2) names the server span, with its sampled flag.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from opentelemetry.trace import SpanContext

from agenttrace._instrument.rollup import RequestRollup

SERVER_TIMING = b"server-timing"
TRACERESPONSE = b"traceresponse"
EXPOSE_HEADERS = b"access-control-expose-headers"
TIMING_ALLOW_ORIGIN = b"timing-allow-origin"
_EXPOSED = b"Server-Timing, traceresponse"
#: Characters allowed in an HTTP token (RFC 9110 ``tchar``); stage names are mapped onto them.
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
#: Metric names agenttrace uses for its own values; a stage with one of these names gets ``_stage`` appended.
RESERVED_METRICS = ("total", "trace", "llm_calls", "tool_calls", "input_tokens", "output_tokens")
_RESERVED = frozenset(RESERVED_METRICS)


@functools.lru_cache(maxsize=512)
def metric_name(stage: str) -> str:
    """A stage name as a Server-Timing metric name: a valid token, never one of :data:`RESERVED_METRICS`.

    Example:
        >>> metric_name("llm call/openai")
        'llm_call_openai'
    """
    token = "".join(c if c in _TCHAR else "_" for c in stage) or "_"
    return token + "_stage" if token in _RESERVED else token


@functools.lru_cache(maxsize=512)
def _metric_token(stage: str) -> bytes:
    return metric_name(stage).encode("ascii")


def traceparent(context: SpanContext) -> bytes:
    """``00-<trace_id>-<span_id>-<flags>`` for a span context (the form of ``traceresponse``), as header bytes."""
    return b"00-%032x-%016x-%s" % (context.trace_id, context.span_id, b"01" if context.trace_flags & 1 else b"00")


class ResponseHeaders:
    """What the middleware adds to a response, fixed when the middleware is built."""

    __slots__ = ("server_timing", "stages", "traceresponse", "expose", "allow_origin")

    def __init__(
        self,
        *,
        server_timing: bool,
        stages: Iterable[str] | None,
        traceresponse: bool,
        expose_headers: bool,
        timing_allow_origin: str,
    ) -> None:
        self.server_timing = server_timing
        self.stages = None if stages is None else frozenset(stages)
        self.traceresponse = traceresponse
        self.expose = expose_headers
        self.allow_origin = timing_allow_origin.encode("latin-1")

    @property
    def enabled(self) -> bool:
        """Whether any header is added at all."""
        return self.server_timing or self.traceresponse

    def build(
        self,
        headers: Iterable[tuple[bytes, bytes]],
        request: RequestRollup,
        total_s: float,
        context: SpanContext,
    ) -> list[tuple[bytes, bytes]]:
        """The response headers with ours added (a new list; the app's own list is not modified)."""
        trace = traceparent(context) if context.is_valid else None
        out = list(headers)
        if self.server_timing:
            out.append((SERVER_TIMING, self._server_timing(request, total_s, trace)))
        if self.traceresponse and trace is not None:
            out.append((TRACERESPONSE, trace))
        if self.expose:
            self._expose(out)
        return out

    def _server_timing(self, request: RequestRollup, total_s: float, trace: bytes | None) -> bytes:
        # Runs once per response: %-formatting straight to bytes is the cheapest way to build it.
        wanted = self.stages
        value = b"".join(
            [
                b'%s;dur=%.1f;desc="%d", ' % (_metric_token(name), secs * 1000, calls)
                for name, calls, secs in request.stage_snapshot()
                if wanted is None or name in wanted
            ]
        )
        value += b'llm_calls;desc="%d", tool_calls;desc="%d", input_tokens;desc="%d", output_tokens;desc="%d", ' % (
            request.llm_calls,
            request.tool_calls,
            request.input_tokens,
            request.output_tokens,
        )
        if trace is None:
            return value + b"total;dur=%.1f" % (total_s * 1000)
        return value + b'total;dur=%.1f, trace;desc="%s"' % (total_s * 1000, trace)

    def _expose(self, out: list[tuple[bytes, bytes]]) -> None:
        """Let a browser page read our headers: extend the app's CORS expose list, or add one."""
        exposed = allowed = False
        for i, (name, value) in enumerate(out):
            lowered = name.lower()
            if lowered == EXPOSE_HEADERS:
                exposed = True
                if value.strip() != b"*":
                    out[i] = (name, value + b", " + _EXPOSED if value.strip() else _EXPOSED)
            elif lowered == TIMING_ALLOW_ORIGIN:
                allowed = True
        if not exposed:
            out.append((EXPOSE_HEADERS, _EXPOSED))
        if not allowed:
            out.append((TIMING_ALLOW_ORIGIN, self.allow_origin))
