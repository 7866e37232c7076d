"""Turn a decoded ``ExportTraceServiceRequest`` into one columnar batch of span rows.

The batch is a ``dict`` of column name to ``list`` (one entry per accepted span) and is serialised to one
JSON line for the write-ahead log; DuckDB later unnests the lists into rows. Spans that can never be
stored (bad ids, timestamps out of range) are counted and reported back as OTLP partial success.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from agenttrace.collector._schema import COLUMN_NAMES

_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
_STATUSES = ("UNSET", "OK", "ERROR")
_INT64_MAX = 2**63 - 1

# attribute name -> (column, expected AnyValue field); a value of another type stays in `attributes`.
_EXTRACTED: dict[str, tuple[str, str]] = {
    "agenttrace.stage": ("stage", "string_value"),
    "agenttrace.run_id": ("run_id", "string_value"),
    "agenttrace.scenario": ("scenario", "string_value"),
    "agenttrace.user": ("virtual_user", "string_value"),
    "http.route": ("http_route", "string_value"),
    "http.request.method": ("http_method", "string_value"),
    "http.response.status_code": ("http_status_code", "int_value"),
    "gen_ai.usage.input_tokens": ("input_tokens", "int_value"),
    "gen_ai.usage.output_tokens": ("output_tokens", "int_value"),
    "gen_ai.operation.name": ("gen_ai_operation", "string_value"),
    "gen_ai.request.model": ("gen_ai_model", "string_value"),
    "agenttrace.llm_calls": ("llm_calls", "int_value"),
    "agenttrace.tool_calls": ("tool_calls", "int_value"),
    "error.type": ("error_type", "string_value"),
    "agenttrace.stages": ("stages", "string_array"),
    "agenttrace.stage_calls": ("stage_calls", "int_array"),
    "agenttrace.stage_durations": ("stage_durations", "double_array"),
}
_SCALARS = ("string_value", "int_value")
_SLOT = {name: i for i, name in enumerate(COLUMN_NAMES)}
_EXTRACTED_SLOT = {key: (_SLOT[column], kind) for key, (column, kind) in _EXTRACTED.items()}


@dataclass
class Batch:
    """Accepted spans of one export request, column by column, plus what was rejected."""

    columns: dict[str, list[Any]]
    accepted: int
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    @property
    def error_message(self) -> str:
        """The partial-success message: the distinct reasons, joined."""
        return "; ".join(sorted(set(self.reasons)))


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
    return getattr(value, which)


def _array(value: Any, kind: str) -> list[Any] | None:
    """The items of an array ``AnyValue`` when all have the type its column needs, else ``None``."""
    if value.WhichOneof("value") != "array_value":
        return None
    want = ("double_value", "int_value") if kind == "double_array" else (kind.replace("_array", "_value"),)
    out = []
    for item in value.array_value.values:
        item_kind = item.WhichOneof("value")
        if item_kind not in want:
            return None
        out.append(getattr(item, item_kind))
    return [float(x) for x in out] if kind == "double_array" else out


def _attributes(key_values: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in key_values}


def _events(span: Any) -> list[dict[str, Any]] | None:
    if not span.events:
        return None
    return [{"name": e.name, "time_ns": e.time_unix_nano, "attributes": _attributes(e.attributes)} for e in span.events]


def _links(span: Any) -> list[dict[str, Any]] | None:
    if not span.links:
        return None
    return [
        {"trace_id": ln.trace_id.hex(), "span_id": ln.span_id.hex(), "attributes": _attributes(ln.attributes)}
        for ln in span.links
    ]


def _invalid(span: Any) -> str | None:
    """Why ``span`` cannot be stored, or ``None``."""
    if len(span.trace_id) != 16 or not any(span.trace_id):
        return "invalid trace_id"
    if len(span.span_id) != 8 or not any(span.span_id):
        return "invalid span_id"
    if len(span.parent_span_id) not in (0, 8):
        return "invalid parent_span_id"
    if span.start_time_unix_nano > _INT64_MAX or span.end_time_unix_nano > _INT64_MAX:
        return "timestamp out of range"
    return None


def to_batch(request: Any) -> Batch:
    """Extract the span rows of an ``ExportTraceServiceRequest``.

    Args:
        request: A decoded ``ExportTraceServiceRequest``.

    Returns:
        The accepted spans as columns, with the count and reasons of rejected ones.
    """
    rows: list[tuple[Any, ...]] = []
    reasons: list[str] = []
    width = len(COLUMN_NAMES)
    slot_attributes = _SLOT["attributes"]
    extracted = _EXTRACTED_SLOT
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        service = resource.get("service.name")
        service = service if isinstance(service, str) else None
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name or None
            scope_version = scope_spans.scope.version or None
            for span in scope_spans.spans:
                reason = _invalid(span)
                if reason is not None:
                    reasons.append(reason)
                    continue
                row: list[Any] = [None] * width
                extra: dict[str, Any] = {}
                for kv in span.attributes:
                    key = kv.key
                    value = kv.value
                    target = extracted.get(key)
                    if target is not None:
                        slot, kind = target
                        if kind in _SCALARS:
                            if value.WhichOneof("value") == kind:
                                row[slot] = getattr(value, kind)
                                continue
                        else:
                            items = _array(value, kind)
                            if items is not None:
                                row[slot] = items
                                continue
                    extra[key] = any_value(value)
                start, end = span.start_time_unix_nano, span.end_time_unix_nano
                status = span.status
                row[0:11] = (
                    span.trace_id.hex(),
                    span.span_id.hex(),
                    span.parent_span_id.hex() or None,
                    span.name,
                    _KINDS[span.kind] if 0 <= span.kind < len(_KINDS) else "UNSPECIFIED",
                    start,
                    end,
                    end - start,
                    _STATUSES[status.code] if 0 <= status.code < len(_STATUSES) else "UNSET",
                    status.message or None,
                    service,
                )
                row[slot_attributes] = extra or None
                row[slot_attributes + 1 :] = (resource, scope_name, scope_version, _events(span), _links(span))
                rows.append(tuple(row))
    if not rows:
        return Batch(columns={name: [] for name in COLUMN_NAMES}, accepted=0, rejected=len(reasons), reasons=reasons)
    columns = {name: list(values) for name, values in zip(COLUMN_NAMES, zip(*rows, strict=True), strict=True)}
    return Batch(columns=columns, accepted=len(rows), rejected=len(reasons), reasons=reasons)
