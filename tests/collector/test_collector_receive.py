from __future__ import annotations

import gzip
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.trace import SpanKind

from agenttrace.store import SpanStore
from tests.collector.conftest import otlp_request, provider_for, stored_count

EXPORTERS = 3
SPANS_EACH = 400


def _export(providers: list, run_id: str) -> None:
    for n, provider in enumerate(providers):
        tracer = provider.get_tracer("test")
        for i in range(SPANS_EACH):
            with tracer.start_as_current_span("op", attributes={"agenttrace.run_id": run_id, "n": n, "i": i}):
                pass
    for provider in providers:
        assert provider.force_flush()
        provider.shutdown()


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_sdk_http_exporters_all_spans_stored(start_collector, tmp_path: Path, compression) -> None:
    collector = start_collector()
    url = f"http://127.0.0.1:{collector.http_port}/v1/traces"
    _export([provider_for(HttpExporter(endpoint=url, compression=compression)) for _ in range(EXPORTERS)], "http")
    collector.stop()
    assert stored_count(tmp_path / "spans.duckdb", "run_id = 'http'") == EXPORTERS * SPANS_EACH
    assert stored_count(tmp_path / "spans.duckdb", "TRUE") == EXPORTERS * SPANS_EACH
    with SpanStore.open(tmp_path / "spans.duckdb") as store:
        rests = [SpanStore.decode_otlp(otlp) for (otlp,) in store.query("SELECT otlp_rest FROM spans")]
    # every (exporter, span) pair exactly once; the other attributes are kept, the contract ones are columns
    assert len({(rest["attributes"]["n"], rest["attributes"]["i"]) for rest in rests}) == EXPORTERS * SPANS_EACH
    assert {tuple(sorted(rest["attributes"])) for rest in rests} == {("i", "n")}


def test_sdk_grpc_exporters_all_spans_stored(start_collector, tmp_path: Path) -> None:
    collector = start_collector()
    endpoint = f"127.0.0.1:{collector.grpc_port}"
    _export([provider_for(GrpcExporter(endpoint=endpoint, insecure=True)) for _ in range(EXPORTERS)], "grpc")
    collector.stop()
    assert stored_count(tmp_path / "spans.duckdb", "run_id = 'grpc'") == EXPORTERS * SPANS_EACH


def test_contract_columns_extracted(start_collector, tmp_path: Path) -> None:
    collector = start_collector()
    provider = provider_for(HttpExporter(endpoint=f"http://127.0.0.1:{collector.http_port}/v1/traces"), "agent-api")
    tracer = provider.get_tracer("agenttrace", "1.2.3")
    request_attributes = {
        "agenttrace.run_id": "run-7",
        "agenttrace.scenario": "chat",
        "agenttrace.user": "vu-3",
        "http.route": "/chat",
        "http.request.method": "POST",
        "http.response.status_code": 200,
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 45,
        "agenttrace.llm_calls": 2,
        "agenttrace.tool_calls": 1,
        "agenttrace.stages": ["llm_call", "search"],
        "agenttrace.stage_calls": [2, 1],
        "agenttrace.stage_durations": [1.5, 2],
        "url.path": "/chat",
    }
    with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER, attributes=request_attributes) as root:
        with tracer.start_as_current_span(
            "chat gpt-4o",
            kind=SpanKind.CLIENT,
            attributes={
                "agenttrace.stage": "llm_call",
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": "not-a-number",
                "error.type": "RateLimitError",
            },
        ) as child:
            child.add_event("retry", {"attempt": 2})
    provider.shutdown()
    collector.stop()
    trace_id = format(root.get_span_context().trace_id, "032x")
    root_id = format(root.get_span_context().span_id, "016x")
    with SpanStore.open(tmp_path / "spans.duckdb") as store:
        rows = store.query(
            """SELECT trace_id, parent_span_id, name, kind, status_code, service_name, stage, run_id, scenario,
                      virtual_user, http_route, http_method, http_status_code, input_tokens, output_tokens,
                      gen_ai_operation, gen_ai_model, llm_calls, tool_calls, error_type, stages, stage_calls,
                      stage_durations, scope_name, scope_version, resource_attributes->>'service.name',
                      duration_ns = end_ns - start_ns, otlp_rest
               FROM spans ORDER BY start_ns"""
        )
    rests = [SpanStore.decode_otlp(row[-1]) for row in rows]
    rows = [row[:-1] for row in rows]
    assert rows == [
        (trace_id, None, "POST /chat", "SERVER", "UNSET", "agent-api", None, "run-7", "chat", "vu-3", "/chat",
         "POST", 200, 120, 45, None, None, 2, 1, None, ["llm_call", "search"], [2, 1], [1.5, 2.0],
         "agenttrace", "1.2.3", "agent-api", True),
        (trace_id, root_id, "chat gpt-4o", "CLIENT", "UNSET", "agent-api", "llm_call", None, None, None, None,
         None, None, None, None, "chat", "gpt-4o", None, None, "RateLimitError", None, None, None,
         "agenttrace", "1.2.3", "agent-api", True),
    ]  # fmt: skip
    # The rest of each span: the attributes not in a column (a mistyped contract attribute stays), events.
    assert rests[0] == {"attributes": {"url.path": "/chat"}, "events": [], "links": [], "trace_state": ""}
    [event] = rests[1]["events"]
    assert rests[1]["attributes"] == {"gen_ai.usage.input_tokens": "not-a-number"}
    assert (event["name"], event["attributes"]) == ("retry", {"attempt": 2})


def test_otlp_json_hex_ids_and_partial_success(start_collector, tmp_path: Path) -> None:
    collector = start_collector()
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "js"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "parentSpanId": "eee19b7ec3c1b173",
                                "name": "json span",
                                "kind": 2,
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": "1700000000500000000",
                                "attributes": [{"key": "agenttrace.run_id", "value": {"stringValue": "j"}}],
                                "status": {"code": 2, "message": "boom"},
                            },
                            {"traceId": "00000000000000000000000000000000", "spanId": "eee19b7ec3c1b174"},
                            {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": ""},
                        ]
                    }
                ],
            }
        ]
    }
    response = httpx.post(f"http://127.0.0.1:{collector.http_port}/v1/traces", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "partialSuccess": {"rejectedSpans": "2", "errorMessage": "invalid span_id; invalid trace_id"}
    }
    collector.stop()
    with SpanStore.open(tmp_path / "spans.duckdb") as store:
        assert store.query(
            "SELECT trace_id, span_id, parent_span_id, kind, status_code, status_message, duration_ns, service_name "
            "FROM spans"
        ) == [
            ("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "eee19b7ec3c1b173", "SERVER", "ERROR", "boom",
             500_000_000, "js")
        ]  # fmt: skip


def test_protobuf_gzip_partial_success_response(start_collector, tmp_path: Path) -> None:
    collector = start_collector()
    response = httpx.post(
        f"http://127.0.0.1:{collector.http_port}/v1/traces",
        content=gzip.compress(otlp_request(5, bad=2)),
        headers={"content-type": "application/x-protobuf", "content-encoding": "gzip"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    parsed = ExportTraceServiceResponse.FromString(response.content)
    assert (parsed.partial_success.rejected_spans, parsed.partial_success.error_message) == (2, "invalid trace_id")
    empty = httpx.post(
        f"http://127.0.0.1:{collector.http_port}/v1/traces",
        content=otlp_request(0),
        headers={"content-type": "application/x-protobuf"},
    )
    assert (empty.status_code, empty.content) == (200, b"")
    collector.stop()
    assert stored_count(tmp_path / "spans.duckdb") == 5


def test_restart_on_same_file_continues(start_collector, tmp_path: Path) -> None:
    for round_ in range(2):
        collector = start_collector()
        response = httpx.post(
            f"http://127.0.0.1:{collector.http_port}/v1/traces",
            content=otlp_request(10, start=1_700_000_000_000_000_000 + round_ * 10**9),
            headers={"content-type": "application/x-protobuf"},
        )
        assert response.status_code == 200
        collector.stop()
    with SpanStore.open(tmp_path / "spans.duckdb") as store:
        [run] = store.list_runs()
    assert (run.run_id, run.spans, run.requests) == ("run-1", 20, 0)
    assert run.first_span.timestamp() == 1_700_000_000
    assert run.last_span.isoformat() == "2023-11-14T22:13:21.000001+00:00"  # last end: +1 s +9 ns +1 us


def test_worker_processes_store_everything(start_collector, tmp_path: Path) -> None:
    collector = start_collector(workers=2)
    url = f"http://127.0.0.1:{collector.http_port}/v1/traces"
    _export([provider_for(HttpExporter(endpoint=url)) for _ in range(EXPORTERS)], "workers")
    collector.stop()
    assert stored_count(tmp_path / "spans.duckdb", "run_id = 'workers'") == EXPORTERS * SPANS_EACH
    assert list((tmp_path / "spans.duckdb.ingest").iterdir()) == []


def test_forward_sends_whole_spans_for_json_and_protobuf(start_collector, tmp_path: Path) -> None:
    # collector A --forward--> collector B: B gets every span whole, though A takes its copy apart.
    second = start_collector(db=tmp_path / "b.duckdb", grpc=None)
    first = start_collector(db=tmp_path / "a.duckdb", grpc=None, forward=f"http://127.0.0.1:{second.http_port}")
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "json span",
        "attributes": [
            {"key": "agenttrace.run_id", "value": {"stringValue": "fwd"}},
            {"key": "url.path", "value": {"stringValue": "/x"}},
        ],
    }
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    url = f"http://127.0.0.1:{first.http_port}/v1/traces"
    assert httpx.post(url, json=body).status_code == 200
    headers = {"content-type": "application/x-protobuf"}
    assert httpx.post(url, content=otlp_request(3, run_id="fwd"), headers=headers).status_code == 200
    first.stop()  # flushes the forwarder
    second.stop()
    for db in ("a.duckdb", "b.duckdb"):
        with SpanStore.open(tmp_path / db) as store:
            rows = store.query("SELECT name, run_id, otlp_rest FROM spans WHERE name = 'json span'")
            assert store.count() == 4
        assert [(name, run_id, SpanStore.decode_otlp(rest)["attributes"]) for name, run_id, rest in rows] == [
            ("json span", "fwd", {"url.path": "/x"})
        ]
