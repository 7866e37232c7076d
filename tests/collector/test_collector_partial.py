"""One bad span (nested too deep, invalid UTF-8, bad id) is rejected alone through OTLP partial success;
the other spans of its request are stored. HTTP protobuf, HTTP JSON and gRPC alike."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.collector.conftest import otlp_request, stored_count

PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
TOO_DEEP = "span nested deeper than the protobuf recursion limit"
NOT_UTF8 = "span has a string that is not valid UTF-8"


def _length_delimited(tag: int, payload: bytes) -> bytes:
    size, varint = len(payload), b""
    while size > 0x7F:
        varint += bytes([size & 0x7F | 0x80])
        size >>= 7
    return bytes([tag]) + varint + bytes([size]) + payload


def _deep_value(levels: int) -> bytes:
    """An AnyValue of arrays nested ``levels`` deep (protobuf will not serialise one that deep itself)."""
    value = AnyValue(string_value="x").SerializeToString()
    for _ in range(levels):
        value = _length_delimited(0x2A, _length_delimited(0x0A, value))  # AnyValue.array_value.values
    return value


def _with_bad_spans(good: int) -> bytes:
    """A request of ``good`` valid spans, then one nested too deep and one with invalid UTF-8 (one scope).

    Built from bytes: protobuf refuses to serialise either bad span itself.
    """
    request = ExportTraceServiceRequest.FromString(otlp_request(good + 2))
    spans = [span.SerializeToString() for span in request.resource_spans[0].scope_spans[0].spans]
    deep = _length_delimited(0x0A, b"deep") + _length_delimited(0x12, _deep_value(60))
    spans[good] += _length_delimited(0x4A, deep)  # Span.attributes
    not_utf8 = _length_delimited(0x0A, b"other") + _length_delimited(0x12, b"\x0a\x02\xfe\xff")  # string_value
    spans[good + 1] += _length_delimited(0x4A, not_utf8)
    scope = b"".join(_length_delimited(0x12, raw) for raw in spans)
    resource = request.resource_spans[0].resource.SerializeToString()
    return _length_delimited(0x0A, _length_delimited(0x0A, resource) + _length_delimited(0x12, scope))


def test_http_protobuf_bad_spans_rejected_alone(start_collector, tmp_path: Path) -> None:
    collector = start_collector()
    body = _with_bad_spans(5)
    response = httpx.post(f"http://127.0.0.1:{collector.http_port}/v1/traces", content=body, headers=PROTOBUF)
    assert response.status_code == 200
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 2
    assert answer.partial_success.error_message == f"{NOT_UTF8}; {TOO_DEEP}"
    collector.stop()
    assert stored_count(tmp_path / "spans.duckdb") == 5


def test_grpc_bad_spans_rejected_alone(start_collector, tmp_path: Path) -> None:
    collector = start_collector()
    with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
        answer = ExportTraceServiceResponse.FromString(channel.unary_unary(EXPORT)(_with_bad_spans(4)))
    assert (answer.partial_success.rejected_spans, answer.partial_success.error_message) == (
        2,
        f"{NOT_UTF8}; {TOO_DEEP}",
    )
    collector.stop()
    assert stored_count(tmp_path / "spans.duckdb") == 4


def _json_span(i: int, **extra: object) -> dict[str, object]:
    return {
        "traceId": f"{i + 1:032x}",
        "spanId": f"{i + 1:016x}",
        "name": "work",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000000001000",
        **extra,
    }


def test_http_json_bad_spans_rejected_alone(start_collector, tmp_path: Path) -> None:
    collector = start_collector()
    deep: dict[str, object] = {"stringValue": "x"}
    for _ in range(60):
        deep = {"arrayValue": {"values": [deep]}}
    spans = [
        _json_span(0),
        _json_span(1, attributes=[{"key": "deep", "value": deep}]),
        _json_span(2, traceId="zz"),
        _json_span(3, name=5),
        "not a span",
        _json_span(5),
    ]
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).encode()
    response = httpx.post(f"http://127.0.0.1:{collector.http_port}/v1/traces", content=body, headers=JSON)
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "4"
    assert partial["errorMessage"].split("; ") == [
        "invalid span: Failed to parse name field: expected string or bytes-like object, got 'int'.",
        "span must be a JSON object",
        TOO_DEEP,
        "traceId is not hex: 'zz'",
    ]
    collector.stop()
    assert stored_count(tmp_path / "spans.duckdb") == 2
