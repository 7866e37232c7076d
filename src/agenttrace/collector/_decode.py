"""Decode OTLP trace export bodies: gzip with a size cap, protobuf, and OTLP/JSON (hex ids).

Both decoders validate with the real classes, span by span when needed (``_spans``): a body whose
structure is broken is a 400, a bad span (nested too deep, invalid UTF-8, ...) is rejected alone and
reported through partial success. They return the valid spans as ``_view.ExportRequestView``, which is
cheaper to extract.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

from google.protobuf import json_format  # type: ignore[import-untyped, unused-ignore]
from google.protobuf.message import DecodeError as _ProtoDecodeError  # type: ignore[import-untyped, unused-ignore]
from google.protobuf.message import EncodeError as _ProtoEncodeError  # type: ignore[import-untyped, unused-ignore]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from agenttrace.collector._spans import Decoded, Envelope, check, problem, split
from agenttrace.collector._view import ExportRequestView

_ID_KEYS = ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id")
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


def decode_protobuf(body: bytes) -> Decoded:
    """Parse a binary ``ExportTraceServiceRequest``, keeping its valid spans (see ``_spans``).

    Raises:
        BadRequest: The bytes are not a request at all (its structure around the spans is broken).
    """
    try:
        ExportTraceServiceRequest.FromString(body)
    except (_ProtoDecodeError, RuntimeError, ValueError) as exc:
        decoded = split(body)  # something in it is bad: find out which spans
        if decoded is None:
            raise BadRequest(f"invalid protobuf ExportTraceServiceRequest: {exc}") from None
        return decoded
    return Decoded(ExportRequestView.FromString(body), body)


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


def decode_json(body: bytes) -> Decoded:
    """Parse an OTLP/JSON ``ExportTraceServiceRequest`` span by span, keeping its valid spans.

    OTLP/JSON differs from the protobuf JSON mapping in one way that matters here: trace and span ids
    are hex strings, not base64, so they are converted before parsing. Each span is parsed alone and
    checked like a protobuf one (``_spans.check``), so one bad span is rejected alone.

    Raises:
        BadRequest: The body is not valid JSON or its structure around the spans is not a request.
    """
    try:
        data = json.loads(body)
    except RecursionError:
        raise BadRequest("invalid JSON: nested too deeply to parse") from None
    except ValueError as exc:
        raise BadRequest(f"invalid JSON: {exc}") from None
    envelope = Envelope()
    reasons: list[str] = []
    for resource_json in _items(data, "resourceSpans", "resource_spans"):
        resource = _part(resource_json, ResourceSpans, ("scopeSpans", "scope_spans"))
        resource_spans = envelope.resource_spans.add(
            resource=resource.resource.SerializeToString(), schema_url=resource.schema_url
        )
        resource_problem = check("resource", resource_spans.resource)
        for scope_json in _items(resource_json, "scopeSpans", "scope_spans"):
            scope = _part(scope_json, ScopeSpans, ("spans",))
            scope_spans = resource_spans.scope_spans.add(
                scope=scope.scope.SerializeToString(), schema_url=scope.schema_url
            )
            group_problem = resource_problem or check("scope", scope_spans.scope)
            for span_json in _items(scope_json, "spans"):
                raw, reason = _span(span_json) if group_problem is None else (b"", group_problem)
                if reason is None:
                    scope_spans.spans.append(raw)
                else:
                    reasons.append(reason)
    raw = envelope.SerializeToString()
    return Decoded(ExportRequestView.FromString(raw), raw, reasons)


def _part(value: Any, message_class: Any, children: tuple[str, ...]) -> Any:
    """A ``ResourceSpans`` or ``ScopeSpans`` object without its children (parsed separately)."""
    if not isinstance(value, dict):
        raise BadRequest("expected a JSON object")
    try:
        return json_format.ParseDict(
            {key: item for key, item in value.items() if key not in children},
            message_class(),
            ignore_unknown_fields=True,
        )
    except (json_format.ParseError, RecursionError, TypeError, ValueError) as exc:
        raise BadRequest(f"invalid OTLP/JSON ExportTraceServiceRequest: {exc}") from None


def _span(value: Any) -> tuple[bytes, str | None]:
    """One OTLP/JSON span as protobuf bytes, or why it is rejected."""
    if not isinstance(value, dict):
        return b"", "span must be a JSON object"
    try:
        _fix_ids(value)
        for link in _items(value, "links"):
            if isinstance(link, dict):
                _fix_ids(link)
        raw: bytes = json_format.ParseDict(value, Span(), ignore_unknown_fields=True).SerializeToString()
    except BadRequest as exc:
        return b"", str(exc)
    except (json_format.ParseError, RecursionError, TypeError, ValueError, _ProtoEncodeError) as exc:
        return b"", problem("span", exc)
    return raw, check("span", raw)


def encode_json_response(message: Any) -> bytes:
    """Serialise a response message as OTLP/JSON (camelCase names, defaults omitted)."""
    text: str = json_format.MessageToJson(message, indent=None)
    return text.encode()
