from __future__ import annotations

import gzip
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc import status_pb2

from tests.collector.conftest import otlp_request, stored_count

PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _post(port: int, body: bytes, headers: dict[str, str], path: str = "/v1/traces") -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{port}{path}", content=body, headers=headers)


def test_http_bad_input_rejected_and_server_keeps_serving(start_collector, tmp_path: Path) -> None:
    collector = start_collector(max_body=64 * 1024)
    port = collector.http_port
    # Malformed protobuf: a Status body (protobuf, as the request) with the reason.
    response = _post(port, b"\x0a\xff\xff\xff", PROTOBUF)
    assert response.status_code == 400
    status = status_pb2.Status.FromString(response.content)
    assert status.code == 3
    assert status.message.startswith("invalid protobuf ExportTraceServiceRequest")
    # A bad span is rejected alone (test_collector_partial.py); a broken structure around spans is a 400.
    response = _post(port, b'{"resourceSpans": [', JSON)
    assert (response.status_code, response.json()["message"][:13]) == (400, "invalid JSON:")
    response = _post(port, b'{"resourceSpans": [{"scopeSpans": [{"spans": {"traceId": "zz"}}]}]}', JSON)
    assert response.status_code == 400
    assert response.json() == {"code": 3, "message": "spans must be an array"}
    response = _post(port, b'{"resourceSpans": [{"resource": {"attributes": 5}, "scopeSpans": []}]}', JSON)
    assert response.status_code == 400
    assert response.json()["message"].startswith("invalid OTLP/JSON ExportTraceServiceRequest")
    # Bad gzip.
    response = _post(port, b"not gzip", {**PROTOBUF, "content-encoding": "gzip"})
    assert response.status_code == 400
    # Wrong content type and encoding.
    assert _post(port, otlp_request(3), {"content-type": "text/plain"}).status_code == 415
    assert _post(port, otlp_request(3), {}).status_code == 415
    assert _post(port, otlp_request(3), {**PROTOBUF, "content-encoding": "br"}).status_code == 415
    # Too large: plainly, and as a gzip bomb (small compressed, huge decompressed).
    response = _post(port, otlp_request(1000), PROTOBUF)
    assert response.status_code == 413
    status = status_pb2.Status.FromString(response.content)
    assert (status.code, status.message) == (8, "body is over the 65536 byte limit")
    bomb = gzip.compress(b"\x00" * (50 * 1024 * 1024))
    assert len(bomb) < 64 * 1024
    response = _post(port, bomb, {**PROTOBUF, "content-encoding": "gzip"})
    assert response.status_code == 413
    assert status_pb2.Status.FromString(response.content).message == "decompressed body is over the 65536 byte limit"
    # Wrong path and method.
    assert _post(port, otlp_request(3), PROTOBUF, path="/v1/metrics").status_code == 404
    response = httpx.get(f"http://127.0.0.1:{port}/v1/traces")
    assert (response.status_code, response.headers["allow"]) == (405, "POST")
    # Still serving.
    assert _post(port, otlp_request(7), PROTOBUF).status_code == 200
    collector.stop()
    assert stored_count(tmp_path / "spans.duckdb") == 7


def test_token_required_http_and_grpc(start_collector, tmp_path: Path) -> None:
    collector = start_collector(token="s3cret")
    port = collector.http_port
    assert _post(port, otlp_request(2), PROTOBUF).status_code == 401
    response = _post(port, otlp_request(2), {**PROTOBUF, "authorization": "Bearer wrong"})
    assert (response.status_code, response.headers["www-authenticate"]) == (401, "Bearer")
    assert _post(port, otlp_request(3), {**PROTOBUF, "authorization": "Bearer s3cret"}).status_code == 200
    with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
        export = channel.unary_unary(EXPORT)
        with pytest.raises(grpc.RpcError) as error:
            export(otlp_request(2))
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert export(otlp_request(4), metadata=[("authorization", "Bearer s3cret")]) == b""
    collector.stop()
    assert stored_count(tmp_path / "spans.duckdb") == 7


def test_grpc_malformed_and_too_large(start_collector, tmp_path: Path) -> None:
    collector = start_collector(max_body=64 * 1024)
    with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
        export = channel.unary_unary(EXPORT)
        with pytest.raises(grpc.RpcError) as error:
            export(b"\x0a\xff\xff\xff")
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.value.details().startswith("invalid protobuf ExportTraceServiceRequest")
        with pytest.raises(grpc.RpcError) as error:
            export(otlp_request(1000))
        assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert export(otlp_request(6)) == b""
    collector.stop()
    assert stored_count(tmp_path / "spans.duckdb") == 6


def test_backpressure_is_retryable_and_loses_nothing(start_collector, tmp_path: Path) -> None:
    # Nothing moves into DuckDB until stop(), so the first batch keeps the pending count at its limit.
    collector = start_collector(max_pending_spans=10, load_interval=3600)
    port = collector.http_port
    assert _post(port, otlp_request(10), PROTOBUF).status_code == 200
    response = _post(port, otlp_request(1), PROTOBUF)
    assert (response.status_code, response.headers["retry-after"]) == (503, "1")
    assert status_pb2.Status.FromString(response.content).code == 14
    with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
        with pytest.raises(grpc.RpcError) as error:
            channel.unary_unary(EXPORT)(otlp_request(1))
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert collector.ingestor.stats.refused_requests == 2
    assert collector.ingestor.pending_spans == 10
    collector.stop()
    assert stored_count(tmp_path / "spans.duckdb") == 10
