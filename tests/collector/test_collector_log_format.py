"""The write-ahead log: lines round-trip every value into its column, however odd the text; loads start early."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

from agenttrace.collector._decode import decode_protobuf
from agenttrace.store import SpanStore, StoreError
from agenttrace.store._ingest import Ingestor
from agenttrace.store._rows import _CACHE_VALUE_BYTES, _CACHES, to_batch
from tests.collector.conftest import kv, otlp_request

ODD = 'tab\there, new\nline, "quotes", back\\slash, comma,, nul\x00, \u20ac, 🙂'


def _array(*values: AnyValue) -> AnyValue:
    return AnyValue(array_value=ArrayValue(values=list(values)))


def _request() -> bytes:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        [kv("service.name", ""), KeyValue(key="weird", value=AnyValue(double_value=math.inf))]
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = ODD
    first = scope_spans.spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name=ODD, kind=7)
    first.start_time_unix_nano, first.end_time_unix_nano = 5, 3
    first.status.code, first.status.message = 2, ODD
    first.attributes.extend(
        [
            kv("agenttrace.run_id", ODD),
            kv("agenttrace.stage", ""),
            kv("http.response.status_code", -(2**63)),
            KeyValue(key="agenttrace.stages", value=_array(AnyValue(string_value=""), AnyValue(string_value=ODD))),
            KeyValue(key="agenttrace.stage_calls", value=_array()),
            KeyValue(
                key="agenttrace.stage_durations",
                value=_array(AnyValue(double_value=math.inf), AnyValue(int_value=2), AnyValue(double_value=0.1)),
            ),
            KeyValue(key="gen_ai.request.model", value=AnyValue(int_value=4)),  # wrong type: stays in the rest
            kv("other", ODD),
        ]
    )
    first.trace_state = "k=v"
    first.events.add(name="e", time_unix_nano=7).attributes.append(kv("a", 1))
    first.links.add(trace_id=b"\x03" * 16, span_id=b"\x04" * 8)
    second = scope_spans.spans.add(trace_id=b"\x05" * 16, span_id=b"\x06" * 8, parent_span_id=b"\x07" * 8)
    second.attributes.append(kv("agenttrace.run_id", "plain"))
    return request.SerializeToString()


def _store(tmp_path: Path, body: bytes) -> SpanStore:
    store = SpanStore.open(tmp_path / "spans.duckdb")
    batch = to_batch(decode_protobuf(body).request)
    assert (batch.accepted, batch.rejected) == (2, 0)
    segment = store.segments / f"00000000000000000001-1-000000001-{batch.accepted}.tsv"
    segment.write_bytes(batch.lines)
    store.load([segment])
    return store


def test_odd_text_and_types_round_trip(tmp_path: Path) -> None:
    with _store(tmp_path, _request()) as store:
        rows = store.query(
            """SELECT name, kind, start_ns, end_ns, duration_ns, status_code, status_message, service_name,
                      run_id, stage, http_status_code, stages, stage_calls, stage_durations, gen_ai_model,
                      scope_name, scope_version, resource_attributes, parent_span_id, otlp_rest IS NULL
               FROM spans ORDER BY trace_id"""
        )
        [(first_rest,)] = store.query("SELECT otlp_rest FROM spans WHERE otlp_rest IS NOT NULL")
    assert rows == [
        (ODD, "UNSPECIFIED", 5, 3, -2, "ERROR", ODD, "", ODD, "", -(2**63), ["", ODD], [], [math.inf, 2.0, 0.1],
         None, ODD, None, '{"service.name":"","weird":"inf"}', None, False),
        ("", "UNSPECIFIED", 0, 0, 0, "UNSET", None, "", "plain", None, None, None, None, None, None, ODD, None,
         '{"service.name":"","weird":"inf"}', "07" * 8, True),
    ]  # fmt: skip
    assert SpanStore.decode_otlp(first_rest) == {
        "attributes": {"gen_ai.request.model": 4, "other": ODD},
        "events": [{"name": "e", "time_ns": 7, "attributes": {"a": 1}}],
        "links": [{"trace_id": "03" * 16, "span_id": "04" * 8, "attributes": {}}],
        "trace_state": "k=v",
    }


def test_value_cache_stays_bounded() -> None:
    long_value = "x" * (_CACHE_VALUE_BYTES + 1)
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for i in range(5000):
        span = spans.add(trace_id=b"\x01" * 16, span_id=i.to_bytes(8, "big") or b"\x01")
        span.attributes.extend([kv("agenttrace.run_id", long_value), kv("agenttrace.user", f"vu-{i}")])
    spans[0].span_id = b"\x09" * 8
    batch = to_batch(decode_protobuf(request.SerializeToString()).request)
    assert batch.accepted == 5000
    assert all(len(raw) <= _CACHE_VALUE_BYTES for raw in _CACHES["string"])
    assert 0 < len(_CACHES["string"]) <= 4096


def test_store_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    with duckdb.connect(str(db)) as connection:
        connection.execute("CREATE TABLE agenttrace_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        connection.execute("INSERT INTO agenttrace_meta VALUES ('schema_version', '1')")
    (tmp_path / "old.duckdb.ingest").mkdir()
    (tmp_path / "old.duckdb.ingest" / "1-1-1-3.jsonl").write_text("{}\n")
    message = "schema version 1; this agenttrace reads and writes version 2: use a new --db file"
    with pytest.raises(StoreError, match=message):
        SpanStore.open(db)
    # Nothing of the old log was touched.
    assert [p.name for p in (tmp_path / "old.duckdb.ingest").iterdir()] == ["1-1-1-3.jsonl"]


def test_loader_starts_when_enough_spans_wait(tmp_path: Path) -> None:
    # With a load interval of an hour, only the waiting-spans threshold can start a load.
    store = SpanStore.open(tmp_path / "spans.duckdb")
    ingestor = Ingestor(store.segments, store=store, load_interval=3600, load_threshold=100)
    try:
        for i in range(2):
            batch = to_batch(decode_protobuf(otlp_request(60, start=10**18 + i * 1000)).request)
            ingestor.submit(batch.lines, batch.accepted).result(timeout=30)
        assert ingestor.wait_stored(120, timeout=30)
        assert (ingestor.stats.loaded_spans, ingestor.pending_spans) == (120, 0)
    finally:
        ingestor.close()
    assert store.count() == 120
    store.close()
