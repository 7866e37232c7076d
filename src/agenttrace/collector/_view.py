"""A read-optimised view of ``ExportTraceServiceRequest``: same wire format, cheaper to read from Python.

OTLP encodes a span's attributes as ``repeated KeyValue attributes = 9``; protobuf encodes a map entry
exactly like a ``KeyValue`` (key = 1, value = 2). Declared here as ``map<string, bytes>``, the attributes
can be looked up by key in C, and a value comes back as the raw bytes of its ``AnyValue``: no Python
message object per attribute (reading those was most of the cost of ingest). Text fields are declared
as bytes too; the receiver validates every request with the real classes first (UTF-8 included), so
nothing here needs checking twice. Span fields the store does not read (events, links, trace state,
flags, dropped counts) are left undeclared: protobuf keeps them as unknown fields, so
``SerializeToString`` still returns the whole span, readable with the real ``Span`` class. Resource and
scope are declared as bytes and decoded once per group with the real classes, and status as bytes
decoded only when not empty (an unset status). A map keeps the last of
duplicate keys (OTLP forbids duplicates).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # type: ignore[import-untyped, unused-ignore]

_PACKAGE = "agenttrace.collector.otlpview"
_F = descriptor_pb2.FieldDescriptorProto
_OPTIONAL, _REPEATED = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED

# message -> [(field, number, type, label, message type or "")]
_MESSAGES: dict[str, list[tuple[str, int, int, int, str]]] = {
    "Span": [
        ("trace_id", 1, _F.TYPE_BYTES, _OPTIONAL, ""),
        ("span_id", 2, _F.TYPE_BYTES, _OPTIONAL, ""),
        ("parent_span_id", 4, _F.TYPE_BYTES, _OPTIONAL, ""),
        ("name", 5, _F.TYPE_BYTES, _OPTIONAL, ""),
        ("kind", 6, _F.TYPE_INT32, _OPTIONAL, ""),
        ("start_time_unix_nano", 7, _F.TYPE_FIXED64, _OPTIONAL, ""),
        ("end_time_unix_nano", 8, _F.TYPE_FIXED64, _OPTIONAL, ""),
        ("attributes", 9, _F.TYPE_MESSAGE, _REPEATED, "Span.AttributesEntry"),
        ("status", 15, _F.TYPE_BYTES, _OPTIONAL, ""),
    ],
    "ScopeSpans": [("scope", 1, _F.TYPE_BYTES, _OPTIONAL, ""), ("spans", 2, _F.TYPE_MESSAGE, _REPEATED, "Span")],
    "ResourceSpans": [
        ("resource", 1, _F.TYPE_BYTES, _OPTIONAL, ""),
        ("scope_spans", 2, _F.TYPE_MESSAGE, _REPEATED, "ScopeSpans"),
    ],
    "ExportTraceServiceRequest": [("resource_spans", 1, _F.TYPE_MESSAGE, _REPEATED, "ResourceSpans")],
}


def _file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(name="agenttrace/collector/otlpview.proto", package=_PACKAGE)
    file.syntax = "proto3"
    for name, fields in _MESSAGES.items():
        message = file.message_type.add(name=name)
        for field_name, number, type_, label, type_name in fields:
            field = message.field.add(name=field_name, number=number, type=type_, label=label)
            if type_name:
                field.type_name = f".{_PACKAGE}.{type_name}"
        if name == "Span":
            entry = message.nested_type.add(name="AttributesEntry")
            entry.options.map_entry = True
            entry.field.add(name="key", number=1, type=_F.TYPE_STRING, label=_OPTIONAL)
            entry.field.add(name="value", number=2, type=_F.TYPE_BYTES, label=_OPTIONAL)
    return file


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file())


def _class(name: str) -> Any:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{_PACKAGE}.{name}"))


ExportRequestView: Any = _class("ExportTraceServiceRequest")
