"""ASGI ``lifespan`` pass-through that flushes span export when the server shuts the app down.

Servers do not all run ``atexit`` hooks: uvicorn re-raises SIGTERM after its own shutdown, so the process dies
of the signal and whatever the batch processor still queues is lost. Every ASGI server does send
``lifespan.shutdown`` once no request is left, and Starlette/FastAPI answer it even without lifespan handlers,
so the flush happens there: after the app's own shutdown handlers (their spans are included), before the
server is told ``lifespan.shutdown.complete``. It is bounded by the exit budget and never raises.

The OpenTelemetry SDK is imported only at that moment: ``import agenttrace`` stays API-only.
"""

from __future__ import annotations

from agenttrace._asgi.types import ASGIApp, Message, Receive, Scope, Send
from agenttrace._guard import guard

_SHUTDOWN_DONE = frozenset({"lifespan.shutdown.complete", "lifespan.shutdown.failed"})


async def serve_lifespan(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, tracer_provider: object | None
) -> None:
    """Run the app's lifespan unchanged, flushing span export just before it reports shutdown to the server.

    Args:
        app: The wrapped ASGI app.
        scope: The ``lifespan`` scope.
        receive: The server's receive.
        send: The server's send.
        tracer_provider: The provider the middleware was given, if any (default: the global one).
    """

    async def send_after_flush(message: Message) -> None:
        if message.get("type") in _SHUTDOWN_DONE:
            flush_export(tracer_provider)
        await send(message)

    await app(scope, receive, send_after_flush)


def flush_export(tracer_provider: object | None) -> None:
    """Flush (or, for providers ``configure()`` installed, shut down) span export within the exit budget.

    Blocks the caller for at most the budget: at shutdown no request is left to serve, and a blocking call
    works under any event loop (asyncio or trio).
    """
    with guard("lifespan shutdown flush"):
        from agenttrace.export._configure import flush_for_exit

        flush_for_exit(tracer_provider)
