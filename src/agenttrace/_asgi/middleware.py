"""``AgentTraceMiddleware``: one SERVER span per HTTP request, with the roll-up of its stages.

Pure ASGI (never ``BaseHTTPMiddleware``, which breaks context propagation and costs throughput). Per-request
state lives in one ``Exchange`` (``_asgi/exchange.py``) per call, never on the middleware. Our own failures
fall back to serving the request untraced: they never reach the app or the client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace

from agenttrace._asgi import lifespan as _lifespan
from agenttrace._asgi.exchange import Exchange
from agenttrace._asgi.fastapi import exclude_from_fastapi
from agenttrace._asgi.server_timing import ResponseHeaders
from agenttrace._asgi.types import ASGIApp, Receive, Scope, Send
from agenttrace._instrument import providers as _providers

_DEFAULT_EXCLUDED = ("/health", "/metrics")
_log = logging.getLogger("agenttrace")


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
            exclude_from_fastapi(scope)
            await self.app(scope, receive, send)
            return
        exchange = Exchange.open(self, scope, send, receive)
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


def _normal_close(exc: Exception) -> bool:
    """A websocket client closing the connection is how websockets end, not an error."""
    return type(exc).__name__ == "WebSocketDisconnect"


def _strings(what: str, values: Iterable[str]) -> tuple[str, ...]:
    found = (values,) if isinstance(values, str) else tuple(values)
    if isinstance(values, str) or not all(isinstance(v, str) for v in found):
        raise TypeError(f"AgentTraceMiddleware: {what} must be a collection of strings, got {values!r}")
    return found
