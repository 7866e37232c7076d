"""The OTLP/HTTP receiver as uvicorn serves it: built in one place for the collector and its workers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

from agenttrace.collector._api import QueryApi
from agenttrace.collector._config import CollectorConfig
from agenttrace.collector._limits import ConnectionLimits, protocol_class
from agenttrace.collector._otlp_http import OtlpHttpApp
from agenttrace.collector._receiver import Receiver
from agenttrace.collector._ui import LivePage

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def check_http_limits(config: CollectorConfig) -> None:
    """Refuse limits that cannot work.

    Raises:
        ValueError: A limit is not positive (the message names the command-line option).
    """
    for option, value in (
        ("--max-body", config.max_body),
        ("--read-timeout", config.read_timeout),
        ("--keepalive-timeout", config.keepalive_timeout),
        ("--max-header-bytes", config.max_header_bytes),
        ("--max-connections", config.max_connections),
    ):
        if not value > 0:
            raise ValueError(f"{option} must be positive, got {value}")


def http_server_config(
    config: CollectorConfig, receiver: Receiver | None, api: QueryApi | None = None
) -> uvicorn.Config:
    """The uvicorn settings, app included, of the collector's HTTP listener.

    Args:
        config: The collector's settings (limits, body size).
        receiver: Serve OTLP ``/v1/traces`` storing through it; ``None`` for a listener of the query API only.
        api: Also serve the query API (``/api/v1/*``), in the process that holds the store, and with it the live
            page (``/ui/``) unless ``config.ui`` is false.
    """
    otlp = OtlpHttpApp(receiver, max_body=config.max_body, read_timeout=config.read_timeout) if receiver else None
    app: ASGIApp = _Routes(otlp, api, LivePage() if api is not None and config.ui else None)
    limits = ConnectionLimits(
        read_timeout=config.read_timeout,
        keepalive_timeout=config.keepalive_timeout,
        max_header_bytes=config.max_header_bytes,
        max_connections=config.max_connections,
    )
    return uvicorn.Config(
        app,
        http=protocol_class(limits),
        lifespan="off",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )


class _Routes:
    """``/api/v1/*`` to the query API, ``/ui`` to the live page, the rest to the OTLP receiver (404 for the rest)."""

    def __init__(self, otlp: OtlpHttpApp | None, api: QueryApi | None, ui: LivePage | None = None) -> None:
        self._otlp = otlp
        self._api = api
        self._ui = ui

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._api is not None and scope["type"] == "http" and QueryApi.handles(scope["path"]):
            await self._api(scope, receive, send)
        elif self._ui is not None and scope["type"] == "http" and LivePage.handles(scope["path"]):
            await self._ui(scope, receive, send)
        elif self._otlp is not None:
            await self._otlp(scope, receive, send)
        elif scope["type"] == "http":
            await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
