"""FastAPI's own telemetry (FastAPI >= 0.165): adopt its SERVER span, or switch it off.

FastAPI keeps its per-request telemetry in the ASGI scope under ``fastapi.telemetry``; a request whose scope
already has the key is not traced or metered by FastAPI again (the mechanism it uses for its ``exclude``
option and for mounted apps). The middleware uses that key to keep one SERVER span per request.
"""

from __future__ import annotations

import logging

from opentelemetry import trace

from agenttrace._asgi.types import Scope

#: The ASGI scope key FastAPI (>= 0.165) keeps its per-request telemetry in; present means "handled".
FASTAPI_TELEMETRY = "fastapi.telemetry"
_log = logging.getLogger("agenttrace")


def exclude_from_fastapi(asgi: Scope) -> None:
    """Keep a FastAPI app inside us from tracing or metering an excluded request.

    FastAPI (>= 0.165) skips its own telemetry, operation spans and metrics included, for a request whose
    ASGI scope already has the ``fastapi.telemetry`` key: the mechanism it uses itself for its ``exclude``
    option and mounted apps. When FastAPI runs *outside* us (``app.add_middleware``) it has already started
    its span: only ``FastAPI(telemetry={"exclude": AgentTraceMiddleware.excludes(...)})`` prevents that,
    so say so once.
    """
    global _warned
    if asgi.setdefault(FASTAPI_TELEMETRY, None) is not None and not _warned:
        _warned = True
        _log.warning(
            "agenttrace: FastAPI traces the excluded path %r itself; pass "
            'FastAPI(telemetry={"exclude": AgentTraceMiddleware.excludes(...)}) to exclude it there too',
            asgi.get("path"),
        )


_warned = False


def fastapi_span(asgi: Scope) -> trace.Span | None:
    """The SERVER span FastAPI's own telemetry opened for this request, if it is tracing it."""
    telemetry = asgi.get(FASTAPI_TELEMETRY)
    span = getattr(telemetry, "span", None) if telemetry is not None else None
    return span if isinstance(span, trace.Span) and span.is_recording() else None


def switch_off(asgi: Scope) -> None:
    """Tell a FastAPI app inside the middleware not to open a second SERVER span for this request."""
    asgi.setdefault(FASTAPI_TELEMETRY, None)
