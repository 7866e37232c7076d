"""OTLP/HTTP trace receiver: a small pure-ASGI app serving ``POST /v1/traces``.

Answers follow the OTLP/HTTP spec: 200 with an ``ExportTraceServiceResponse`` (partial success when
some spans were rejected) in the request's encoding; 400/401/404/405/408/413/415 with a ``google.rpc.Status``
body for requests that will never succeed; 503 with ``Retry-After`` when the store is behind (retryable).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from google.rpc import status_pb2  # type: ignore[import-untyped, unused-ignore]

from agenttrace.collector._decode import (
    BadRequest,
    TooLarge,
    decode_json,
    decode_protobuf,
    encode_json_response,
    gunzip,
)
from agenttrace.collector._receiver import Receiver, response_for
from agenttrace.store._ingest import Overloaded

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
TRACES_PATH = "/v1/traces"
log = logging.getLogger("agenttrace.collector")

# HTTP status -> google.rpc.Code, for the Status body of error answers.
_RPC_CODES = {400: 3, 401: 16, 404: 5, 405: 12, 408: 4, 413: 8, 415: 3, 503: 14}


class HttpError(Exception):
    """An answer other than 200; ``headers`` are added to the response."""

    def __init__(self, status: int, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers


class OtlpHttpApp:
    """ASGI app receiving OTLP/HTTP traces (protobuf or JSON, optionally gzip).

    Args:
        receiver: Stores (and forwards) accepted requests.
        max_body: Largest accepted body in bytes, compressed and decompressed alike.
        retry_after: Seconds suggested to clients refused because the store is behind.
        read_timeout: Seconds to wait for the next part of a body before answering 408.
    """

    def __init__(self, receiver: Receiver, *, max_body: int, retry_after: int = 1, read_timeout: float = 10.0) -> None:
        self._receiver = receiver
        self._max_body = max_body
        self._read_timeout = read_timeout
        self._retry_after = str(retry_after).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {name.lower(): value for name, value in scope["headers"]}
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().decode("latin-1").lower()
        try:
            status, body = await self._handle(scope, headers, content_type, receive)
            extra: tuple[tuple[bytes, bytes], ...] = ()
        except HttpError as exc:
            status, extra = exc.status, exc.headers
            body = _status_body(status, str(exc), content_type)
        except Exception:  # noqa: BLE001 - a bug must not take the server down; the client may retry
            log.exception("agenttrace collector: internal error")
            status, extra = 503, ((b"retry-after", self._retry_after),)
            body = _status_body(status, "internal error", content_type)
        response_type = content_type if content_type in (PROTOBUF, JSON) else JSON
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", response_type.encode()),
                    (b"content-length", str(len(body)).encode()),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _handle(
        self, scope: Scope, headers: dict[bytes, bytes], content_type: str, receive: Receive
    ) -> tuple[int, bytes]:
        if scope["path"] != TRACES_PATH:
            raise HttpError(404, f"not found: only {TRACES_PATH} is served")
        if scope["method"] != "POST":
            raise HttpError(405, "method not allowed: use POST", ((b"allow", b"POST"),))
        if not self._receiver.authorized(headers.get(b"authorization")):
            raise HttpError(401, "missing or wrong bearer token", ((b"www-authenticate", b"Bearer"),))
        if content_type not in (PROTOBUF, JSON):
            raise HttpError(415, f"unsupported content type {content_type!r}: use {PROTOBUF} or {JSON}")
        encoding = headers.get(b"content-encoding", b"identity").strip().lower()
        if encoding not in (b"identity", b"gzip"):
            raise HttpError(415, f"unsupported content encoding {encoding.decode('latin-1')!r}: use gzip")
        body = await self._read_body(headers, receive)
        try:
            if encoding == b"gzip":
                body = gunzip(body, self._max_body)
            decoded = decode_protobuf(body) if content_type == PROTOBUF else decode_json(body)
        except TooLarge as exc:
            raise HttpError(413, str(exc)) from None
        except BadRequest as exc:
            raise HttpError(400, str(exc)) from None
        try:
            batch, durable = self._receiver.accept(decoded)
        except Overloaded as exc:
            raise HttpError(503, f"busy, retry later: {exc}", ((b"retry-after", self._retry_after),)) from None
        if durable is not None:
            try:
                await asyncio.wrap_future(durable)
            except OSError as exc:
                raise HttpError(503, f"cannot store spans: {exc}", ((b"retry-after", self._retry_after),)) from None
        response = response_for(batch)
        if content_type == PROTOBUF:
            encoded: bytes = response.SerializeToString()
            return 200, encoded
        return 200, encode_json_response(response)

    async def _read_body(self, headers: dict[bytes, bytes], receive: Receive) -> bytes:
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_body:
            raise HttpError(413, f"body is over the {self._max_body} byte limit")
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:  # bounded: ends with the last body message or past the size limit
            try:
                message = await asyncio.wait_for(receive(), self._read_timeout)
            except TimeoutError:
                # The rest of the body may never come: answer, and close so it cannot follow as a request.
                raise HttpError(
                    408, f"request body stalled for {self._read_timeout:g} s", ((b"connection", b"close"),)
                ) from None
            if message["type"] == "http.disconnect":
                raise HttpError(400, "client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise HttpError(413, f"body is over the {self._max_body} byte limit")
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)


def _status_body(http_status: int, message: str, content_type: str) -> bytes:
    code = _RPC_CODES.get(http_status, 2)
    if content_type == PROTOBUF:
        encoded: bytes = status_pb2.Status(code=code, message=message).SerializeToString()
        return encoded
    return json.dumps({"code": code, "message": message}).encode()
