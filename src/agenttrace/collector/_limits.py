"""Connection limits uvicorn lacks: a deadline for the request head, a head size cap, a connection cap.

uvicorn (httptools) times out idle keep-alive connections, but a connection that never sends a request,
or sends its head a byte at a time, stays open for ever, and a head of any size is buffered. This
protocol subclass adds, per connection:

- a read deadline from the connection (or the next request's first byte) to the end of its head:
  a connection that sent nothing is closed, one that sent part of a head gets 408 and is closed;
- a cap on the head's size (request line and headers): 431 and close;
- a cap on open connections: the ones beyond it get 503 and are closed at once.

A body that stalls is the app's to time out (``OtlpHttpApp``), where the 408 can carry a proper body.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large", 503: b"Service Unavailable"}


@dataclass(frozen=True)
class ConnectionLimits:
    """Per-connection limits of an HTTP receiver (see ``CollectorConfig`` for what each one means)."""

    read_timeout: float
    keepalive_timeout: float
    max_header_bytes: int
    max_connections: int


async def _headers_too_large(scope: Any, receive: Any, send: Any) -> None:
    """The app answering a request whose complete head was over the limit."""
    body = b"request headers are too large"
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 431, "headers": [*headers, (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with ``limits`` enforced; use ``protocol_class`` to set them."""

    limits: ConnectionLimits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn's Config types this as int; the protocol only hands it to call_later, which takes float.
        self.timeout_keep_alive = self.limits.keepalive_timeout  # type: ignore[assignment]
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = True  # the next bytes belong to a request head
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._refuse(503, b"too many connections, retry later", b"retry-after: 1\r\n")
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_timer is None:  # first byte of a request after a keep-alive pause
                self._arm_head_timer()
        super().data_received(data)
        # Still in the head after the parser took it all: every byte counted was a head byte.
        if self._in_head and self._head_bytes > self.limits.max_header_bytes and not self.transport.is_closing():
            self._refuse(431, b"request headers are too large")

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        self._in_head = False
        self._head_bytes = 0
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size <= self.limits.max_header_bytes:
            super().on_headers_complete()
            return
        app, self.app = self.app, _headers_too_large  # the whole head came in one read: answer through a cycle
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.limits.read_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_bytes:
            self._refuse(408, b"request head not received in time")
        else:
            self.transport.close()

    def _refuse(self, status: int, message: bytes, extra: bytes = b"") -> None:
        """Answer ``status`` outside any request cycle and close the connection."""
        self._cancel_head_timer()
        head = b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n" % (
            status,
            _REASONS[status],
            len(message),
        )
        self.transport.write(head + extra + b"connection: close\r\n\r\n" + message)
        self.transport.close()


def protocol_class(limits: ConnectionLimits) -> type[LimitedHttpProtocol]:
    """A ``LimitedHttpProtocol`` subclass enforcing ``limits`` (uvicorn's ``http=`` takes a class)."""
    return type("LimitedHttpProtocol", (LimitedHttpProtocol,), {"limits": limits})
