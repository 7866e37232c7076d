"""Turn a decoded export request (``_view.ExportRequestView``) into write-ahead log lines, one per span.

The line format is described in ``_schema``. Per span this reads the fixed fields, looks up only the
contract attributes and keeps the whole span as its serialised bytes (C speed), so no Python object is
made per attribute. The log field of a contract attribute depends only on the bytes of its value, and
the same few values (run id, stage, model, ...) come again and again, so fields are cached by those
bytes. Spans that can never be stored (bad ids, timestamps out of range, over the size limit) are counted
and reported back as OTLP partial success; long attribute values are trimmed first (see ``_limits``).
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from agenttrace import _names as names
from agenttrace.store._limits import TRIMMED_KEY, Limits, trim_attribute_map, trim_key_values
from agenttrace.store._schema import LOG_FIELD_NAMES

_KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_STATUSES = {0: "UNSET", 1: "OK", 2: "ERROR"}
_INT64_MAX = 2**63 - 1
_ZERO_TRACE_ID = bytes(16)
_ZERO_SPAN_ID = bytes(8)
EMPTY_TEXT = '""'  # a quoted empty field: an empty string, where an empty field is NULL

# attribute name -> (column, expected AnyValue type); a value of another type leaves its column NULL.
EXTRACTED: dict[str, tuple[str, str]] = {
    names.STAGE: ("stage", "string"),
    names.RUN_ID: ("run_id", "string"),
    names.SCENARIO: ("scenario", "string"),
    names.USER: ("virtual_user", "string"),
    names.HTTP_ROUTE: ("http_route", "string"),
    names.HTTP_REQUEST_METHOD: ("http_method", "string"),
    names.HTTP_RESPONSE_STATUS_CODE: ("http_status_code", "int"),
    names.GEN_AI_USAGE_INPUT_TOKENS: ("input_tokens", "int"),
    names.GEN_AI_USAGE_OUTPUT_TOKENS: ("output_tokens", "int"),
    names.GEN_AI_OPERATION_NAME: ("gen_ai_operation", "string"),
    names.GEN_AI_REQUEST_MODEL: ("gen_ai_model", "string"),
    names.LLM_CALLS: ("llm_calls", "int"),
    names.TOOL_CALLS: ("tool_calls", "int"),
    names.ERROR_TYPE: ("error_type", "string"),
    names.STAGES: ("stages", "string_array"),
    names.STAGE_CALLS: ("stage_calls", "int_array"),
    names.STAGE_DURATIONS: ("stage_durations", "double_array"),
}
_ARRAY_ITEM = {
    "string_array": ("string_value",),
    "int_array": ("int_value",),
    "double_array": ("double_value", "int_value"),
}
_FIRST_EXTRACTED = LOG_FIELD_NAMES.index("stage")
_NO_VALUES = [""] * len(EXTRACTED)
# Span fields stored in columns, cleared before the rest of the span is serialised.
_COLUMN_FIELDS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_time_unix_nano",
    "end_time_unix_nano",
    "status",
)
# Cached fields: per expected type, AnyValue bytes -> log field. Bounded: cleared when full, and only
# short values are kept.
_CACHE_ENTRIES = 4096
_CACHE_VALUE_BYTES = 256
_CACHES: dict[str, dict[bytes, str]] = {kind: {} for kind in ("string", "int", *_ARRAY_ITEM)}
_SLOTS = {
    key: (LOG_FIELD_NAMES.index(column) - _FIRST_EXTRACTED, kind, _CACHES[kind])
    for key, (column, kind) in EXTRACTED.items()
}


_DEFAULT_LIMITS = Limits()


@dataclass
class Batch:
    """The log lines of one export request's accepted spans, plus what was rejected."""

    lines: bytes
    accepted: int
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    @property
    def error_message(self) -> str:
        """The partial-success message: the distinct reasons, joined."""
        return "; ".join(sorted(set(self.reasons)))


def hex_text(text: str) -> str:
    """A client's string as a log field: hex of its UTF-8 bytes (``""`` for the empty string)."""
    return text.encode().hex() or EMPTY_TEXT


def any_value(value: Any) -> Any:
    """Convert an OTLP ``AnyValue`` to a JSON-compatible Python value (bytes become base64)."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if which == "double_value" and not math.isfinite(value.double_value):
        return str(value.double_value)  # JSON has no NaN or infinity
    return getattr(value, which)


def attributes_dict(key_values: Any) -> dict[str, Any]:
    """OTLP ``KeyValue`` list -> ``dict`` of JSON-compatible values."""
    return {kv.key: any_value(kv.value) for kv in key_values}


def _array_field(value: Any, kind: str) -> str:
    """The log field of an array attribute when every item has the type its column needs, else NULL."""
    if value.WhichOneof("value") != "array_value":
        return ""
    allowed = _ARRAY_ITEM[kind]
    items = []
    for item in value.array_value.values:
        item_kind = item.WhichOneof("value")
        if item_kind not in allowed:
            return ""
        items.append(getattr(item, item_kind))
    if kind == "string_array":
        return json.dumps(items, ensure_ascii=False).encode().hex()
    if kind == "double_array":
        items = [float(x) for x in items]
    return str(items)  # "[1, 2]", "[0.5, inf]": DuckDB casts this text to BIGINT[] / DOUBLE[]


def _field(raw: bytes, kind: str) -> str:
    """The log field of an attribute value (serialised ``AnyValue``) whose column expects ``kind``."""
    value = AnyValue.FromString(raw)
    which = value.WhichOneof("value")
    if kind == "string":
        return hex_text(value.string_value) if which == "string_value" else ""
    if kind == "int":
        return str(value.int_value) if which == "int_value" else ""
    return _array_field(value, kind)


def _extracted(attributes: Any) -> list[str]:
    """The log fields of the contract attributes in a span's attribute map (key -> ``AnyValue`` bytes).

    Attributes whose value went into a column are removed from the map; the others stay.
    """
    values = _NO_VALUES[:]
    slots = _SLOTS
    done = []
    for key in attributes:
        target = slots.get(key)
        if target is None:
            continue
        slot, kind, cache = target
        raw = attributes[key]
        text = cache.get(raw)
        if text is None:
            text = _field(raw, kind)
            if len(raw) <= _CACHE_VALUE_BYTES:
                if len(cache) >= _CACHE_ENTRIES:
                    cache.clear()
                cache[raw] = text
        if text:
            values[slot] = text
            done.append(key)
    for key in done:
        del attributes[key]
    return values


def _status_fields(raw: bytes) -> str:
    """The status_code and status_message fields of a serialised ``Status``."""
    status = Status.FromString(raw)
    code: str = _STATUSES.get(status.code, "UNSET")
    return f"{code}\t{status.message.encode().hex()}"


def _invalid(span: Any) -> str | None:
    """Why ``span`` cannot be stored, or ``None``."""
    if len(span.trace_id) != 16 or span.trace_id == _ZERO_TRACE_ID:
        return "invalid trace_id"
    if len(span.span_id) != 8 or span.span_id == _ZERO_SPAN_ID:
        return "invalid span_id"
    if len(span.parent_span_id) not in (0, 8):
        return "invalid parent_span_id"
    if span.start_time_unix_nano > _INT64_MAX or span.end_time_unix_nano > _INT64_MAX:
        return "timestamp out of range"
    return None


def _group_fields(resource_raw: bytes, scope_raw: bytes, limit: int) -> str:
    """The fields every span of one resource and scope shares (the end of its log line)."""
    key_values = Resource.FromString(resource_raw).attributes
    trimmed = trim_key_values(key_values, limit)
    resource = attributes_dict(key_values)
    if trimmed:
        resource[TRIMMED_KEY] = trimmed
    service = resource.get(names.SERVICE_NAME)
    attributes = json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
    scope = InstrumentationScope.FromString(scope_raw)
    return "\t".join(
        (
            hex_text(service) if isinstance(service, str) else "",
            attributes.encode().hex(),
            scope.name.encode().hex(),  # empty, so NULL, when not set
            scope.version.encode().hex(),
        )
    )


def to_batch(request: Any, limits: Limits = _DEFAULT_LIMITS) -> Batch:
    """Extract the log lines of an export request.

    Args:
        request: A decoded ``_view.ExportRequestView``, already validated with the real classes.
        limits: Attribute values longer than ``limits.max_attribute_length`` are trimmed; spans still over
            ``limits.max_span_bytes`` are rejected.

    Returns:
        The accepted spans as log lines, with the count and reasons of rejected ones.
    """
    lines: list[str] = []
    reasons: list[str] = []
    kinds, extracted, zero_trace, zero_span = _KINDS, _extracted, _ZERO_TRACE_ID, _ZERO_SPAN_ID
    column_fields = _COLUMN_FIELDS
    statuses = {b"": "UNSET\t"}
    max_length, max_span = limits.max_attribute_length, limits.max_span_bytes
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            tail = _group_fields(resource_spans.resource, scope_spans.scope, max_length)
            for span in scope_spans.spans:
                trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
                start, end = span.start_time_unix_nano, span.end_time_unix_nano
                if (
                    len(trace_id) != 16
                    or trace_id == zero_trace
                    or len(span_id) != 8
                    or span_id == zero_span
                    or len(parent) not in (0, 8)
                    or start > _INT64_MAX
                    or end > _INT64_MAX
                ):
                    reasons.append(_invalid(span) or "invalid span")
                    continue
                size = span.ByteSize()
                if size > max_length:  # only then can a value have more than max_length characters
                    trim_attribute_map(span.attributes, max_length)
                    size = span.ByteSize()
                if size > max_span:
                    reasons.append(f"span over {max_span} bytes")
                    continue
                status = span.status
                status_fields = statuses.get(status)
                if status_fields is None:
                    status_fields = statuses[status] = _status_fields(status)
                head = "\t".join(
                    (
                        trace_id.hex(),
                        span_id.hex(),
                        parent.hex(),
                        span.name.hex(),
                        kinds.get(span.kind, "UNSPECIFIED"),
                        str(start),
                        str(end),
                        status_fields,
                        *extracted(span.attributes),
                    )
                )
                for name in column_fields:
                    span.ClearField(name)
                # The rest of the span (empty, so NULL, when nothing is left), then the shared fields.
                lines.append(f"{head}\t{span.SerializeToString().hex()}\t{tail}")
    lines.append("")
    return Batch("\n".join(lines).encode(), accepted=len(lines) - 1, rejected=len(reasons), reasons=reasons)
