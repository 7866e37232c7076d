from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from agenttrace.collector import Collector, CollectorConfig
from agenttrace.store import SpanStore

PYTHON = sys.executable


def kv(key: str, value: str | int) -> Any:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def otlp_request(spans: int, *, run_id: str = "run-1", bad: int = 0, start: int = 1_700_000_000_000_000_000) -> bytes:
    """A protobuf export request with `spans` valid spans and `bad` spans with an all-zero trace id."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(kv("service.name", "svc"))
    scope_spans = resource_spans.scope_spans.add()
    for i in range(spans + bad):
        span = scope_spans.spans.add()
        span.trace_id = bytes(16) if i < bad else os.urandom(15) + b"\x01"
        span.span_id = os.urandom(7) + b"\x01"
        span.name = "work"
        span.start_time_unix_nano = start + i
        span.end_time_unix_nano = start + i + 1_000
        span.attributes.append(kv("agenttrace.run_id", run_id))
    return request.SerializeToString()


def provider_for(exporter: SpanExporter, service: str = "svc") -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=10_000, max_export_batch_size=256))
    return provider


def stored_count(db: Path, where: str = "TRUE") -> int:
    with SpanStore.open(db) as store:
        return int(store.query(f"SELECT count(*) FROM spans WHERE {where}")[0][0])


@pytest.fixture
def start_collector(tmp_path: Path) -> Iterator[Callable[..., Collector]]:
    started: list[Collector] = []

    def start(**overrides: Any) -> Collector:
        settings: dict[str, Any] = {"db": tmp_path / "spans.duckdb", "http": "127.0.0.1:0", "grpc": "127.0.0.1:0"}
        settings.update(overrides)
        collector = Collector(CollectorConfig(**settings))
        collector.start()
        started.append(collector)
        return collector

    yield start
    for collector in started:
        collector.stop()


def start_collector_process(db: Path, *extra: str) -> tuple[subprocess.Popen[str], int]:
    """`python -m agenttrace collector` on a free port (gRPC off); returns the process and its HTTP port."""
    process = subprocess.Popen(
        [PYTHON, "-m", "agenttrace", "collector", "--db", str(db), "--http", "127.0.0.1:0", "--grpc", "off"]
        + list(extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    # The whole start-up banner: a line left unread could sit in readline's buffer, where communicate() misses it.
    lines = [process.stdout.readline() for _ in range(3)]
    assert lines[0] == f"agenttrace collector: storing spans in {db}\n"
    match = re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+) \(OTLP/HTTP\)\n", lines[1])
    assert match, lines
    assert lines[2] == f"live page on http://127.0.0.1:{match.group(1)}/ui/\n", lines
    return process, int(match.group(1))
