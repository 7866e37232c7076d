"""``AgentTraceMiddleware``: one SERVER span per HTTP request, with the roll-up of its stages.

Pure ASGI (never ``BaseHTTPMiddleware``, which breaks context propagation and costs throughput). Per-request
state lives in one small :class:`_Exchange` per call, never on the middleware. The span ends when the last
body chunk is sent (so streaming responses are covered), when the client disconnects, or when the app
raises; the route template is read from the ASGI scope then, after routing. Our own failures fall back to
serving the request untraced: they never reach the app or the client.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from agenttrace import _names as sc
from agenttrace._asgi import http_attributes as _http
from agenttrace._asgi import lifespan as _lifespan
from agenttrace._asgi.server_timing import ResponseHeaders
from agenttrace._guard import guard
from agenttrace._instrument import providers as _providers
from agenttrace._instrument.outcome import error_type, record_error
from agenttrace._instrument.rollup import RequestRollup, identity_from_baggage, with_rollup

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The ASGI scope key FastAPI (>= 0.165) keeps its per-request telemetry in; present means "handled".
_FASTAPI_TELEMETRY = "fastapi.telemetry"
_DEFAULT_EXCLUDED = ("/health", "/metrics")
_log = logging.getLogger("agenttrace")


# One guard per site, built once: the per-request path uses ``try``/``handle()`` (a ``with`` costs more).
_GUARD_START = guard("middleware.start")
_GUARD_RESPONSE_START = guard("middleware.response_start")
_GUARD_FINISH = guard("middleware.finish")


class AgentTraceMiddleware:
    """Trace every request of an ASGI app (FastAPI, Starlette, ...) for load testing.

    Each HTTP request gets a SERVER span named ``{method} {route}`` with HTTP semantic-convention attributes,
    joined to the caller's trace (``traceparent``), carrying the load-run identity from ``baggage`` and the
    roll-up of its stages. The response gets ``Server-Timing`` and ``traceresponse`` headers. Websockets get
    one span per connection; ``lifespan`` passes through.

    Args:
        app: The ASGI app to wrap.
        tracer_provider: Use this provider instead of the global one.
        meter_provider: Record ``http.server.request.duration`` here instead of the global provider.
        server_timing: Add the ``Server-Timing`` header.
        server_timing_stages: Only these stages in ``Server-Timing`` (default: every stage).
        traceresponse: Add the ``traceresponse`` header.
        expose_headers: Add ``Access-Control-Expose-Headers`` and ``Timing-Allow-Origin`` so a browser page
            on another origin can read the timing headers.
        timing_allow_origin: The ``Timing-Allow-Origin`` value when ``expose_headers`` is on.
        excluded_paths: Exact paths that get no span and no headers.
        flush_on_shutdown: At ``lifespan.shutdown``, flush span export within the exit budget (and shut down
            the providers ``agenttrace.configure()`` installed), since not every server runs ``atexit`` hooks.

    Example:
        >>> app = FastAPI()  # doctest: +SKIP
        >>> app.add_middleware(agenttrace.AgentTraceMiddleware)  # doctest: +SKIP
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        server_timing: bool = True,
        server_timing_stages: Iterable[str] | None = None,
        traceresponse: bool = True,
        expose_headers: bool = False,
        timing_allow_origin: str = "*",
        excluded_paths: Iterable[str] = _DEFAULT_EXCLUDED,
        flush_on_shutdown: bool = True,
    ) -> None:
        if not callable(app):
            raise TypeError(f"AgentTraceMiddleware wraps an ASGI app, got {app!r}")
        self.app = app
        self.shutdown_flush = (tracer_provider,) if flush_on_shutdown else None
        self.tracer = None if tracer_provider is None else _providers.get_tracer(tracer_provider)
        self.meter_provider = meter_provider
        self.excluded = frozenset(_strings("excluded_paths", excluded_paths))
        if not isinstance(timing_allow_origin, str) or not timing_allow_origin or "\n" in timing_allow_origin:
            raise ValueError(f"timing_allow_origin must be one header value, got {timing_allow_origin!r}")
        self.headers = ResponseHeaders(
            server_timing=server_timing,
            stages=None if server_timing_stages is None else _strings("server_timing_stages", server_timing_stages),
            traceresponse=traceresponse,
            expose_headers=expose_headers,
            timing_allow_origin=timing_allow_origin,
        )

    @staticmethod
    def excludes(paths: Iterable[str] = _DEFAULT_EXCLUDED) -> Callable[[Scope], bool]:
        """A FastAPI ``telemetry={"exclude": ...}`` predicate for the same paths as ``excluded_paths``.

        Needed only when the middleware is added with ``app.add_middleware``: FastAPI then starts its own
        request telemetry before the middleware sees the request.

        Example:
            >>> app = FastAPI(telemetry={"exclude": AgentTraceMiddleware.excludes()})  # doctest: +SKIP
            >>> app.add_middleware(AgentTraceMiddleware)  # doctest: +SKIP
        """
        excluded = frozenset(_strings("paths", paths))
        return lambda scope: scope.get("path") in excluded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan" and self.shutdown_flush is not None:  # flush export before the server exits
            await _lifespan.serve_lifespan(self.app, scope, receive, send, self.shutdown_flush[0])
            return
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        if scope.get("path") in self.excluded:
            _exclude_from_fastapi(scope)
            await self.app(scope, receive, send)
            return
        exchange = _Exchange.open(self, scope, send, receive)
        if exchange is None:
            await self.app(scope, receive, send)
            return
        token = otel_context.attach(exchange.context)
        try:
            if exchange.http:
                await self.app(scope, exchange.receive, exchange.send)
            else:
                await self.app(scope, receive, send)
        except Exception as exc:
            exchange.finish(error=None if _normal_close(exc) else exc)
            raise
        except BaseException:
            exchange.finish(cancelled=True)
            raise
        finally:
            otel_context.detach(token)
            exchange.finish()


class _Exchange:
    """One request or websocket connection going through the middleware."""

    __slots__ = (
        "mw", "asgi", "http", "send_", "receive_", "span", "owned", "request", "context", "start", "name",
        "status", "complete", "ended", "disconnected", "first_byte", "trailers",
    )  # fmt: skip

    def __init__(self, mw: AgentTraceMiddleware, asgi: Scope, send: Send, receive: Receive) -> None:
        self.mw = mw
        self.asgi = asgi
        self.http = asgi["type"] == "http"
        self.send_ = send
        self.receive_ = receive
        self.start = time.perf_counter()
        parent = otel_context.get_current()
        adopted = _fastapi_span(asgi)
        self.owned = adopted is None
        if adopted is not None:
            # FastAPI (>= 0.165) traces this request itself, with trace context already extracted: carry our
            # roll-up on its SERVER span rather than opening a second one inside it.
            identity = identity_from_baggage(parent)
            self.name = ""
            self.span = adopted
        else:
            carrier, host, agent = _http.scan_headers(asgi.get("headers") or ())
            if carrier is not None:
                parent = propagate.extract(carrier, parent)
            identity = identity_from_baggage(parent)
            attributes = _http.request_attributes(asgi, host, agent)
            if identity:
                attributes.update(identity)
            method = attributes.get(sc.HTTP_REQUEST_METHOD)
            self.name = "WS" if method is None else "HTTP" if method == "_OTHER" else method
            tracer = mw.tracer or _providers.current_tracer()
            self.span = tracer.start_span(self.name, parent, kind=SpanKind.SERVER, attributes=attributes)
            # A FastAPI app inside us skips its own request span when this key is present: one SERVER span.
            asgi.setdefault(_FASTAPI_TELEMETRY, None)
        self.request = _HttpRollup(identity, asgi)
        self.context = with_rollup(self.request, trace.set_span_in_context(self.span, parent))
        self.status: int | None = None
        self.complete = self.ended = self.disconnected = self.trailers = False
        self.first_byte: float | None = None

    @classmethod
    def open(cls, mw: AgentTraceMiddleware, asgi: Scope, send: Send, receive: Receive) -> _Exchange | None:
        """Start the span and the roll-up; ``None`` if agenttrace failed (serve the request untraced)."""
        try:
            return cls(mw, asgi, send, receive)
        except Exception:
            _GUARD_START.handle()
            return None

    async def receive(self) -> Message:
        message = await self.receive_()
        if message["type"] == "http.disconnect" and not self.complete:
            self.disconnected = True  # Starlette's StreamingResponse then cancels the stream; we end on return
        return message

    async def send(self, message: Message) -> None:
        final = False
        if not self.complete:
            kind = message["type"]
            if kind == "http.response.body":
                if self.first_byte is None and message.get("body"):
                    self.first_byte = time.perf_counter() - self.start
                final = self.complete = not message.get("more_body", False) and not self.trailers
            elif kind == "http.response.start":
                message = self.response_start(message)
            elif kind == "http.response.trailers":
                final = self.complete = not message.get("more_trailers", False)
            elif kind == "http.response.pathsend":
                final = self.complete = True
            if final and not self.owned:
                self.finish()  # FastAPI ends its span while this final message passes through it
        try:
            await self.send_(message)
        except OSError:  # ASGI 2.4 servers raise this once the client is gone
            self.disconnected = True
            raise
        if final:
            self.finish()

    def response_start(self, message: Message) -> Message:
        """Note the status and add our headers, computed now that the handler's stages are done."""
        try:
            self.status = message["status"]
            self.trailers = bool(message.get("trailers", False))
            headers = self.mw.headers
            if headers.enabled:
                total = time.perf_counter() - self.start
                built = headers.build(message.get("headers", ()), self.request, total, self.span.get_span_context())
                return {**message, "headers": built}
        except Exception:
            _GUARD_RESPONSE_START.handle()
        return message

    def finish(self, error: BaseException | None = None, cancelled: bool = False) -> None:
        """End the span with the roll-up and outcome (once; later calls do nothing)."""
        if self.ended:
            return
        self.ended = self.complete = True
        try:
            self._finish(error, cancelled)
        except Exception:
            _GUARD_FINISH.handle()

    def _finish(self, error: BaseException | None, cancelled: bool) -> None:
        duration = time.perf_counter() - self.start
        status = self.status
        if error is not None and status is None and self.http:
            status = 500
        etype: str | None = None
        if self.disconnected:
            error = None  # what the app raises after the client left is a consequence, not a failure
        elif error is not None:
            etype = error_type(error)
        elif status is not None and status >= 500:
            etype = str(status)
        span = self.span
        if not self.owned:
            self._annotate_adopted(span, cancelled)
            return
        try:
            route = self.request.route
            if span.is_recording():
                attributes = self._own_attributes(cancelled)
                if route is not None:
                    attributes[sc.HTTP_ROUTE] = route
                    span.update_name(_span_name(self.name, route))
                if status is not None:
                    attributes[sc.HTTP_RESPONSE_STATUS_CODE] = status
                if error is not None and etype is not None:
                    record_error(span, error, etype)
                elif etype is not None:  # a 5xx the app returned: no exception to record
                    attributes[sc.ERROR_TYPE] = etype
                    span.set_status(Status(StatusCode.ERROR))
                span.set_attributes(attributes)
        finally:
            span.end()  # whatever went wrong above, the span must not stay open
        if self.http:
            run_id = self.request.identity.get(sc.RUN_ID)
            _http.record_duration(self.mw.meter_provider, duration, self.asgi, route, status, etype, run_id)

    def _own_attributes(self, cancelled: bool) -> dict[str, Any]:
        """What only agenttrace knows at the end: the roll-up, time to first byte, how the exchange ended."""
        attributes = self.request.rollup_attributes()
        if self.first_byte is not None:
            attributes[sc.TIME_TO_FIRST_BYTE] = self.first_byte
        if self.disconnected:
            attributes[sc.CLIENT_DISCONNECTED] = True
        elif cancelled:
            attributes[sc.OUTCOME] = "cancelled"
        return attributes

    def _annotate_adopted(self, span: trace.Span, cancelled: bool) -> None:
        """Add what only agenttrace knows to FastAPI's span; FastAPI sets HTTP attributes, status and ends it."""
        if span.is_recording():
            span.set_attributes({**self._own_attributes(cancelled), **self.request.identity})


def _exclude_from_fastapi(asgi: Scope) -> None:
    """Keep a FastAPI app inside us from tracing or metering an excluded request.

    FastAPI (>= 0.165) skips its own telemetry, operation spans and metrics included, for a request whose
    ASGI scope already has the ``fastapi.telemetry`` key: the mechanism it uses itself for its ``exclude``
    option and mounted apps. When FastAPI runs *outside* us (``app.add_middleware``) it has already started
    its span: only ``FastAPI(telemetry={"exclude": AgentTraceMiddleware.excludes(...)})`` prevents that,
    so say so once.
    """
    global _warned
    if asgi.setdefault(_FASTAPI_TELEMETRY, None) is not None and not _warned:
        _warned = True
        _log.warning(
            "agenttrace: FastAPI traces the excluded path %r itself; pass "
            'FastAPI(telemetry={"exclude": AgentTraceMiddleware.excludes(...)}) to exclude it there too',
            asgi.get("path"),
        )


_warned = False


def _fastapi_span(asgi: Scope) -> trace.Span | None:
    """The SERVER span FastAPI's own telemetry opened for this request, if it is tracing it."""
    telemetry = asgi.get(_FASTAPI_TELEMETRY)
    span = getattr(telemetry, "span", None) if telemetry is not None else None
    return span if isinstance(span, trace.Span) and span.is_recording() else None


class _HttpRollup(RequestRollup):
    """A request's roll-up whose route is read from the ASGI scope once routing has put it there.

    Stages end inside the handler, after routing, so their metrics get the route template even though the
    middleware runs before the router.
    """

    __slots__ = ("_asgi", "_root", "_route")

    def __init__(self, identity: Mapping[str, str], asgi: Scope) -> None:
        self._asgi = asgi
        self._root: str = asgi.get("root_path", "")
        self._route: str | None = None
        super().__init__(identity)

    @property
    def route(self) -> str | None:
        if self._route is None:
            self._route = _http.route_template(self._asgi, self._root)
        return self._route

    @route.setter
    def route(self, value: str | None) -> None:
        self._route = value


@functools.lru_cache(maxsize=1024)
def _span_name(method: str, route: str) -> str:
    """``{method} {route}``: a handful of distinct names, built once each."""
    return f"{method} {route}"


def _normal_close(exc: Exception) -> bool:
    """A websocket client closing the connection is how websockets end, not an error."""
    return type(exc).__name__ == "WebSocketDisconnect"


def _strings(what: str, values: Iterable[str]) -> tuple[str, ...]:
    found = (values,) if isinstance(values, str) else tuple(values)
    if isinstance(values, str) or not all(isinstance(v, str) for v in found):
        raise TypeError(f"AgentTraceMiddleware: {what} must be a collection of strings, got {values!r}")
    return found
