"""Synthetic runs with hand-computable figures, written through the store's real write path (OTLP -> log -> DuckDB)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from agenttrace.collector._decode import decode_protobuf
from agenttrace.store import SpanStore
from agenttrace.store._ingest import Ingestor
from agenttrace.store._rows import to_batch

T0 = 1_700_000_000_000_000_000
MS = 1_000_000


@dataclass
class S:
    """One span: times in ms from T0, attributes by OTLP name."""

    trace: int
    span: int
    parent: int | None
    start_ms: float
    end_ms: float
    name: str = "work"
    kind: int = Span.SPAN_KIND_INTERNAL
    error: bool = False
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def trace_id(self) -> str:
        return f"{self.trace:032x}"


def _value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=value)


def export_request(spans: list[S]) -> bytes:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(KeyValue(key="service.name", value=_value("agent")))
    scope_spans = resource_spans.scope_spans.add()
    for s in spans:
        span = scope_spans.spans.add()
        span.trace_id = s.trace.to_bytes(16, "big")
        span.span_id = s.span.to_bytes(8, "big")
        if s.parent is not None:
            span.parent_span_id = s.parent.to_bytes(8, "big")
        span.name = s.name
        span.kind = s.kind
        span.start_time_unix_nano = T0 + round(s.start_ms * MS)
        span.end_time_unix_nano = T0 + round(s.end_ms * MS)
        if s.error:
            span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="boom"))
        for key, value in s.attrs.items():
            span.attributes.append(KeyValue(key=key, value=_value(value)))
    return request.SerializeToString()


def write_store(db: Path, spans: list[S]) -> Path:
    store = SpanStore.open(db)
    ingestor = Ingestor(store.segments, store=store, load_interval=0.01)
    try:
        batch = to_batch(decode_protobuf(export_request(spans)).request)
        assert batch.rejected == 0, batch.reasons
        ingestor.submit(batch.lines, batch.accepted).result(timeout=30)
        assert ingestor.wait_stored(len(spans), timeout=30)
    finally:
        ingestor.close()
    store.close()
    return db


SERVER = Span.SPAN_KIND_SERVER
CLIENT = Span.SPAN_KIND_CLIENT


def request(trace: int, start: float, end: float, scenario: str, route: str, status: int, **attrs: Any) -> S:
    base = {
        "agenttrace.run_id": "run-a",
        "agenttrace.scenario": scenario,
        "http.route": route,
        "http.request.method": "POST",
        "http.response.status_code": status,
    }
    return S(trace, 1, None, start, end, name=f"POST {route}", kind=SERVER, error=status >= 500, attrs=base | attrs)


def stage(trace: int, span: int, parent: int, start: float, end: float, name: str, **attrs: Any) -> S:
    error = bool(attrs.pop("error", False))
    operation = {"llm_call": "chat", "tool": "execute_tool"}.get(name)
    base: dict[str, Any] = {"agenttrace.run_id": "run-a", "agenttrace.stage": name}
    if operation:
        base["gen_ai.operation.name"] = operation
    return S(trace, span, parent, start, end, name=name, error=error, attrs=base | attrs)


def tokens(inp: int, out: int) -> dict[str, int]:
    return {"gen_ai.usage.input_tokens": inp, "gen_ai.usage.output_tokens": out}


TTFB = "agenttrace.response.time_to_first_byte"

#: Run "run-a": four requests over 6 s; every expected figure in test_report_build.py is computed by hand.
RUN_A: list[S] = [
    # R1 0-1000 ms, chat: llm 0-300, parallel tools 300-700 and 300-500, llm 700-900. Its load generator's
    # CLIENT span is the SERVER span's parent (same run, not a request).
    S(1, 9, None, -10, 1010, name="POST", kind=CLIENT, attrs={"agenttrace.run_id": "run-a"}),
    request(
        1,
        0,
        1000,
        "chat",
        "/chat",
        200,
        **{TTFB: 0.2, "agenttrace.llm_calls": 2, "agenttrace.tool_calls": 2},
        **tokens(300, 30),
    ),
    stage(1, 2, 1, 0, 300, "llm_call", **tokens(100, 10)),
    stage(1, 3, 1, 300, 700, "tool"),
    stage(1, 4, 1, 300, 500, "tool"),
    stage(1, 5, 1, 700, 900, "llm_call", **tokens(200, 20)),
    # R2 500-2500 ms, chat: an agent stage 500-2400 holding llm 600-1600 and tool 1600-2000.
    request(
        2,
        500,
        2500,
        "chat",
        "/chat",
        200,
        **{TTFB: 1.0, "agenttrace.llm_calls": 1, "agenttrace.tool_calls": 1},
        **tokens(300, 30),
    ),
    stage(2, 2, 1, 500, 2400, "agent"),
    stage(2, 3, 2, 600, 1600, "llm_call", **tokens(300, 30)),
    stage(2, 4, 2, 1600, 2000, "tool"),
    # R3 1000-1500 ms, search, answered 429: a rate-limited model attempt, then its retry. No roll-up.
    request(3, 1000, 1500, "search", "/search", 429, **{TTFB: 0.05}),
    stage(3, 2, 1, 1000, 1100, "llm_call", error=True, **{"error.type": "RateLimitError"}),
    stage(3, 3, 1, 1100, 1400, "llm_call", **tokens(50, 5)),
    # R4 3000-6000 ms, search, failed (500): a failing tool 3000-5000. No roll-up, no body.
    request(4, 3000, 6000, "search", "/search", 500, **{"error.type": "ValueError"}),
    stage(4, 2, 1, 3000, 5000, "tool", error=True, **{"error.type": "ValueError"}),
    # Run "run-b", earlier: one request (the latest run is run-a).
    S(
        5,
        1,
        None,
        -5000,
        -4900,
        name="GET /health",
        kind=SERVER,
        attrs={"agenttrace.run_id": "run-b", "http.route": "/health", "http.response.status_code": 200},
    ),
]


@pytest.fixture(scope="session")
def run_a_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_store(tmp_path_factory.mktemp("report") / "spans.duckdb", RUN_A)
