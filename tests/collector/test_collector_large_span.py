"""Issue 8, defect 1: one span with a huge attribute must never break the store."""

from __future__ import annotations

from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

from agenttrace import _cli
from agenttrace.store import SpanStore
from tests.collector.conftest import kv, otlp_request

PROTOBUF = {"content-type": "application/x-protobuf"}
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
MB = "x" * 1_000_000


def _with_attribute(key: str, value: str, *, run_id: str = "run-1", spans: int = 1) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest.FromString(otlp_request(spans, run_id=run_id))
    request.resource_spans[0].scope_spans[0].spans[0].attributes.append(kv(key, value))
    return request


def test_megabyte_attribute_is_trimmed_and_store_stays_readable(
    start_collector, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "spans.duckdb"
    collector = start_collector(db=db, grpc=None)
    request = _with_attribute("prompt", MB)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.append(
        KeyValue(key="list", value=AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="é" * 20_000)])))
    )
    span.attributes.append(kv("short", "kept"))
    request.resource_spans[0].resource.attributes.append(kv("host.notes", "n" * 20_000))
    response = httpx.post(
        f"http://127.0.0.1:{collector.http_port}/v1/traces", content=request.SerializeToString(), headers=PROTOBUF
    )
    assert (response.status_code, response.content) == (200, b"")
    collector.stop()
    with SpanStore.open(db) as store:
        assert [(run.run_id, run.spans) for run in store.list_runs()] == [("run-1", 1)]
        [(otlp, resource)] = store.query("SELECT otlp_rest, resource_attributes FROM spans")
    assert SpanStore.decode_otlp(otlp)["attributes"] == {
        "prompt": "x" * 16_384,
        "list": ["é" * 16_384],
        "short": "kept",
        "agenttrace.trimmed_attributes": ["list", "prompt"],
    }
    assert resource == (
        '{"service.name":"svc","host.notes":"' + "n" * 16_384 + '","agenttrace.trimmed_attributes":["host.notes"]}'
    )
    assert _cli.main(["runs", "--db", str(db)]) == 0
    assert capsys.readouterr() == (
        "RUN ID  FIRST SPAN (UTC)     LAST SPAN (UTC)      REQUESTS  SPANS\n"
        "run-1   2023-11-14 22:13:20  2023-11-14 22:13:20         0      1\n",
        "",
    )


def test_extracted_column_is_trimmed_like_its_attribute(start_collector, tmp_path: Path) -> None:
    db = tmp_path / "spans.duckdb"
    collector = start_collector(db=db, grpc=None, max_attribute_length=100)
    body = otlp_request(1, run_id="r" * 1_000_000)
    response = httpx.post(f"http://127.0.0.1:{collector.http_port}/v1/traces", content=body, headers=PROTOBUF)
    assert response.status_code == 200
    collector.stop()
    with SpanStore.open(db) as store:
        [(run_id, otlp)] = store.query("SELECT run_id, otlp_rest FROM spans")
    assert run_id == "r" * 100
    assert SpanStore.decode_otlp(otlp)["attributes"] == {"agenttrace.trimmed_attributes": ["agenttrace.run_id"]}


def test_span_over_the_size_limit_is_rejected_with_partial_success(start_collector, tmp_path: Path) -> None:
    db = tmp_path / "spans.duckdb"
    collector = start_collector(db=db, max_span_bytes=64 * 1024)
    # An event attribute is not trimmed: the span stays over the limit and is refused; the other span is kept.
    request = ExportTraceServiceRequest.FromString(otlp_request(2))
    event = request.resource_spans[0].scope_spans[0].spans[0].events.add(name="big")
    event.attributes.append(kv("payload", "y" * 100_000))
    response = httpx.post(
        f"http://127.0.0.1:{collector.http_port}/v1/traces", content=request.SerializeToString(), headers=PROTOBUF
    )
    assert response.status_code == 200
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert (answer.partial_success.rejected_spans, answer.partial_success.error_message) == (
        1,
        "span over 65536 bytes",
    )
    with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
        export = channel.unary_unary(
            EXPORT,
            request_serializer=ExportTraceServiceRequest.SerializeToString,
            response_deserializer=ExportTraceServiceResponse.FromString,
        )
        grpc_answer = export(request, timeout=30)
    assert grpc_answer.partial_success.rejected_spans == 1
    assert grpc_answer.partial_success.error_message == "span over 65536 bytes"
    collector.stop()
    with SpanStore.open(db) as store:
        assert store.count() == 2


def test_size_limit_flags_are_validated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["collector", "--db", str(tmp_path / "x.duckdb"), "--grpc", "off", "--http", "127.0.0.1:0"]
    assert _cli.main([*argv, "--max-attribute-length", "0"]) == 1
    assert capsys.readouterr() == ("", "agenttrace: error: the attribute value length limit must be at least 1\n")
    assert _cli.main([*argv, "--max-span-bytes", "10"]) == 1
    assert capsys.readouterr() == ("", "agenttrace: error: the span size limit must be at least 1024 bytes\n")


def test_attribute_limit_default_follows_the_otel_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from agenttrace.collector import CollectorConfig

    assert CollectorConfig().max_attribute_length == 16_384
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "4096")
    assert CollectorConfig().max_attribute_length == 4096
