"""Per-span validation: a bad span is rejected alone, the rest of its request is stored.

A request that the real ``ExportTraceServiceRequest`` class parses is valid as a whole (the fast path,
in ``_decode``). When it does not, the request is parsed again as an *envelope*: the same wire format
with every span, resource and scope kept as raw bytes, so only the structure around the spans is
checked. Each span is then checked with the real classes where it sits in a request (same nesting
depth as in the whole request, so a span accepted here is one any OTLP receiver can parse). Spans that
fail (nested deeper than protobuf's recursion limit, a string that is not UTF-8, ...) are dropped from
the envelope and counted with the reason; a bad resource or scope rejects the spans under it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # type: ignore[import-untyped, unused-ignore]
from google.protobuf.message import DecodeError, EncodeError  # type: ignore[import-untyped, unused-ignore]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from agenttrace.collector._view import ExportRequestView

_PACKAGE = "agenttrace.collector.otlpenvelope"
_F = descriptor_pb2.FieldDescriptorProto
_PARSE_ERRORS = (DecodeError, EncodeError, RuntimeError, ValueError)


@dataclass
class Decoded:
    """A decoded export request: a view of its valid spans, and why the others were rejected.

    Attributes:
        request: The ``_view.ExportRequestView`` of the accepted spans.
        raw: The binary protobuf encoding of ``request`` (what the forwarder sends on).
        reasons: One entry per rejected span: why it was rejected.
    """

    request: Any
    raw: bytes
    reasons: list[str] = field(default_factory=list)


def _envelope_class() -> Any:
    file = descriptor_pb2.FileDescriptorProto(name="agenttrace/collector/otlpenvelope.proto", package=_PACKAGE)
    file.syntax = "proto3"
    optional, repeated = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    scope = file.message_type.add(name="ScopeSpans")
    scope.field.add(name="scope", number=1, type=_F.TYPE_BYTES, label=optional)
    scope.field.add(name="spans", number=2, type=_F.TYPE_BYTES, label=repeated)
    scope.field.add(name="schema_url", number=3, type=_F.TYPE_STRING, label=optional)
    resource = file.message_type.add(name="ResourceSpans")
    resource.field.add(name="resource", number=1, type=_F.TYPE_BYTES, label=optional)
    resource.field.add(
        name="scope_spans", number=2, type=_F.TYPE_MESSAGE, label=repeated, type_name=f".{_PACKAGE}.ScopeSpans"
    )
    resource.field.add(name="schema_url", number=3, type=_F.TYPE_STRING, label=optional)
    request = file.message_type.add(name="ExportTraceServiceRequest")
    request.field.add(
        name="resource_spans", number=1, type=_F.TYPE_MESSAGE, label=repeated, type_name=f".{_PACKAGE}.ResourceSpans"
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    request_class: Any = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{request.name}"))
    return request_class


Envelope: Any = _envelope_class()


def problem(what: str, exc: Exception) -> str:
    """The rejection reason of a ``what`` ("span", "resource", "scope") that failed to parse."""
    text = str(exc)
    if "MaxDepth" in text or "too deep" in text or isinstance(exc, RecursionError):
        return f"{what} nested deeper than the protobuf recursion limit"
    if "UTF-8" in text:
        return f"{what} has a string that is not valid UTF-8"
    return f"invalid {what}: {text}"


def check(what: str, raw: bytes) -> str | None:
    """Why the serialised ``what`` (``span``, ``resource`` or ``scope``) is invalid, or ``None``.

    The part is parsed with the real classes inside a one-part request, at the depth it has there.
    """
    part: dict[str, Any] = {"spans": [raw]} if what == "span" else {what: raw}
    resource: dict[str, Any] = {"resource": raw} if what == "resource" else {"scope_spans": [part]}
    try:
        ExportTraceServiceRequest.FromString(Envelope(resource_spans=[resource]).SerializeToString())
    except _PARSE_ERRORS as exc:
        return problem(what, exc)
    return None


def split(body: bytes) -> Decoded | None:
    """Keep the valid spans of a request the real class refused; ``None`` when its structure is broken."""
    try:
        envelope = Envelope.FromString(body)
    except _PARSE_ERRORS:
        return None
    reasons: list[str] = []
    for resource_spans in envelope.resource_spans:
        group_problem = check("resource", resource_spans.resource)
        for scope_spans in resource_spans.scope_spans:
            reason = group_problem or check("scope", scope_spans.scope)
            spans = scope_spans.spans
            if reason is not None:
                reasons.extend([reason] * len(spans))
                del spans[:]
                continue
            keep = []
            for raw in spans:
                reason = check("span", raw)
                if reason is None:
                    keep.append(raw)
                else:
                    reasons.append(reason)
            if len(keep) != len(spans):
                del spans[:]
                spans.extend(keep)
    raw = envelope.SerializeToString()
    return Decoded(ExportRequestView.FromString(raw), raw, reasons)
