"""One request (or websocket connection) going through the middleware: its span, roll-up and headers.

Per-request state lives here, in one small object per call, never on the middleware. The span ends when the
last body chunk is sent (so streaming responses are covered), when the client disconnects, or when the app
raises; the route template is read from the ASGI scope then, after routing.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from typing import Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from agenttrace import _names as sc
from agenttrace._asgi import http_attributes as _http
from agenttrace._asgi.fastapi import fastapi_span, switch_off
from agenttrace._asgi.server_timing import ResponseHeaders
from agenttrace._asgi.types import Message, Receive, Scope, Send
from agenttrace._guard import guard
from agenttrace._instrument import providers as _providers
from agenttrace._instrument.outcome import error_type, record_error
from agenttrace._instrument.rollup import RequestRollup, identity_from_baggage, with_rollup

# One guard per site, built once: the per-request path uses ``try``/``handle()`` (a ``with`` costs more).
_GUARD_START = guard("middleware.start")
_GUARD_RESPONSE_START = guard("middleware.response_start")
_GUARD_FINISH = guard("middleware.finish")


class MiddlewareSettings(Protocol):
    """What an exchange reads from the middleware that started it (fixed when the middleware is built)."""

    tracer: trace.Tracer | None
    meter_provider: metrics.MeterProvider | None
    headers: ResponseHeaders


class Exchange:
    """One request or websocket connection going through the middleware."""

    __slots__ = (
        "mw", "asgi", "http", "send_", "receive_", "span", "owned", "request", "context", "start", "name",
        "status", "complete", "ended", "disconnected", "first_byte", "trailers",
    )  # fmt: skip

    def __init__(self, mw: MiddlewareSettings, asgi: Scope, send: Send, receive: Receive) -> None:
        self.mw = mw
        self.asgi = asgi
        self.http = asgi["type"] == "http"
        self.send_ = send
        self.receive_ = receive
        self.start = time.perf_counter()
        parent = otel_context.get_current()
        adopted = fastapi_span(asgi)
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
            switch_off(asgi)  # a FastAPI app inside us: one SERVER span, ours
        self.request = HttpRollup(identity, asgi)
        self.context = with_rollup(self.request, trace.set_span_in_context(self.span, parent))
        self.status: int | None = None
        self.complete = self.ended = self.disconnected = self.trailers = False
        self.first_byte: float | None = None

    @classmethod
    def open(cls, mw: MiddlewareSettings, asgi: Scope, send: Send, receive: Receive) -> Exchange | None:
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


class HttpRollup(RequestRollup):
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
