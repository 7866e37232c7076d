"""Issue 8, defect 1: one span with a huge attribute must never break the store."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from agenttrace import _cli
from agenttrace.store import SpanStore
from conftest import kv, otlp_request

PROTOBUF = {"content-type": "application/x-protobuf"}


def _with_attribute(key: str, value: str, *, run_id: str = "run-1") -> bytes:
    request = ExportTraceServiceRequest.FromString(otlp_request(1, run_id=run_id))
    request.resource_spans[0].scope_spans[0].spans[0].attributes.append(kv(key, value))
    return request.SerializeToString()


def test_megabyte_attribute_is_trimmed_and_store_stays_readable(
    start_collector, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "spans.duckdb"
    collector = start_collector(db=db, grpc=None)
    response = httpx.post(
        f"http://127.0.0.1:{collector.http_port}/v1/traces",
        content=_with_attribute("prompt", "x" * 1_000_000),
        headers=PROTOBUF,
    )
    assert (response.status_code, response.content) == (200, b"")
    collector.stop()
    with SpanStore.open(db) as store:
        assert [(run.run_id, run.spans) for run in store.list_runs()] == [("run-1", 1)]
    assert _cli.main(["runs", "--db", str(db)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[1].split()[0] == "run-1"
