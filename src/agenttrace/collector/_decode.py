"""Decode OTLP trace export bodies: gzip with a size cap, protobuf, and OTLP/JSON (hex ids).

Both decoders validate with the real ``ExportTraceServiceRequest`` class (so a bad body, invalid UTF-8
included, is a 400) and return the request as ``_view.ExportRequestView``, which is cheaper to extract.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

from google.protobuf import json_format  # type: ignore[import-untyped, unused-ignore]
from google.protobuf.message import DecodeError as _ProtoDecodeError  # type: ignore[import-untyped, unused-ignore]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from agenttrace.collector._view import ExportRequestView

_ID_KEYS = ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id")
_MAX_JSON_DEPTH = 64
_GZIP_MAGIC = b"\x1f\x8b"


class BadRequest(ValueError):
    """The body is not a valid export request; the message says why."""


class TooLarge(ValueError):
    """The (decompressed) body is over the configured limit."""


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress a gzip body, every member of it, refusing to produce more than ``limit`` bytes in all.

    RFC 1952 lets a gzip file be several members one after another (``cat a.gz b.gz``); each is
    decompressed in turn. Anything after a member that is not another member is an error, never ignored.

    Raises:
        TooLarge: The decompressed body is over ``limit`` (gzip bombs).
        BadRequest: The body is not valid gzip, is truncated, or has trailing garbage.
    """
    parts: list[bytes] = []
    size = 0
    rest = body
    member = 0
    while True:  # bounded: every pass consumes a whole member (at least 18 bytes) of ``body``
        member += 1
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = inflater.decompress(rest, limit - size + 1)
        except zlib.error as exc:
            if member == 1:
                raise BadRequest(f"invalid gzip body: {exc}") from None
            raise BadRequest(f"trailing garbage after gzip member {member - 1}: {exc}") from None
        size += len(out)
        if size > limit:
            raise TooLarge(f"decompressed body is over the {limit} byte limit")
        if not inflater.eof:
            raise BadRequest("truncated gzip body")
        parts.append(out)
        rest = inflater.unused_data
        if not rest:
            return b"".join(parts)
        if not rest.startswith(_GZIP_MAGIC):
            raise BadRequest(f"trailing garbage after gzip member {member}: {len(rest)} bytes that are not gzip")


def decode_protobuf(body: bytes) -> Any:
    """Parse a binary ``ExportTraceServiceRequest`` into an ``ExportRequestView``.

    Raises:
        BadRequest: The bytes are not a valid message.
    """
    try:
        ExportTraceServiceRequest.FromString(body)
    except (_ProtoDecodeError, RuntimeError, ValueError) as exc:
        raise BadRequest(f"invalid protobuf ExportTraceServiceRequest: {exc}") from None
    return ExportRequestView.FromString(body)


def _hex_to_base64(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a hex string")
    try:
        return base64.b64encode(bytes.fromhex(value)).decode("ascii")
    except ValueError:
        raise BadRequest(f"{key} is not hex: {value[:40]!r}") from None


def _fix_ids(obj: dict[str, Any]) -> None:
    for key in _ID_KEYS:
        if key in obj and obj[key] != "":
            obj[key] = _hex_to_base64(obj[key], key)


def _items(parent: Any, *keys: str) -> list[Any]:
    """The list under the first of ``keys`` present in ``parent`` (OTLP/JSON allows both spellings)."""
    if not isinstance(parent, dict):
        raise BadRequest("expected a JSON object")
    for key in keys:
        if key in parent:
            value = parent[key]
            if value is None:
                return []
            if not isinstance(value, list):
                raise BadRequest(f"{key} must be an array")
            return value
    return []


def decode_json(body: bytes) -> Any:
    """Parse an OTLP/JSON ``ExportTraceServiceRequest`` into an ``ExportRequestView``.

    OTLP/JSON differs from the protobuf JSON mapping in one way that matters here: trace and span ids
    are hex strings, not base64, so they are converted before parsing.

    Raises:
        BadRequest: The body is not valid JSON or not a valid request.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"invalid JSON: {exc}") from None
    for resource_spans in _items(data, "resourceSpans", "resource_spans"):
        for scope_spans in _items(resource_spans, "scopeSpans", "scope_spans"):
            for span in _items(scope_spans, "spans"):
                if not isinstance(span, dict):
                    raise BadRequest("span must be a JSON object")
                _fix_ids(span)
                for link in _items(span, "links"):
                    if isinstance(link, dict):
                        _fix_ids(link)
    try:
        request = json_format.ParseDict(data, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, TypeError, ValueError) as exc:
        raise BadRequest(f"invalid OTLP/JSON ExportTraceServiceRequest: {exc}") from None
    return ExportRequestView.FromString(request.SerializeToString())


def encode_json_response(message: Any) -> bytes:
    """Serialise a response message as OTLP/JSON (camelCase names, defaults omitted)."""
    text: str = json_format.MessageToJson(message, indent=None)
    return text.encode()
