"""Ingest benchmark for the embedded collector.

Pushes OTLP/HTTP protobuf batches of 512 spans from several client processes into
`agenttrace collector` (a subprocess on 127.0.0.1), stops it (which flushes into DuckDB), checks that
every span is stored, and prints stored spans/s next to the speed of only decoding the same payloads
with the protobuf classes in one process (``ParseFromString``, the practical limit), and, for context,
of decoding them and reading every field and attribute into Python values. The clients build their
payloads before the clock starts; the clock starts once the collector (workers included) is ready and
stops when it has exited, so the final load into DuckDB and its checkpoint are counted.

    .venv/bin/python bench/ingest.py [--clients 4] [--requests 60] [--spans 512] [--workers 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from agenttrace.store import SpanStore
from agenttrace.store._rows import any_value


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, list):
        return KeyValue(key=key, value=AnyValue(array_value=ArrayValue(values=[_kv("", v).value for v in value])))
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def payload(spans: int, seed: int) -> bytes:
    """One export request shaped like an agent service's traffic: per request 1 SERVER span + 4 stages."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend([_kv("service.name", "agent-api"), _kv("service.version", "1.0")])
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "agenttrace"
    start = 1_700_000_000_000_000_000 + seed * 10**9
    common = {"agenttrace.run_id": "bench", "agenttrace.scenario": "chat", "agenttrace.user": f"vu-{seed % 50}"}
    for i in range(spans):
        span = scope_spans.spans.add()
        span.trace_id = os.urandom(16)
        span.span_id = os.urandom(8)
        span.start_time_unix_nano = start + i * 1000
        span.end_time_unix_nano = start + i * 1000 + 2_000_000
        attributes = dict(common)
        if i % 5 == 0:
            span.name, span.kind = "POST /chat", Span.SPAN_KIND_SERVER
            attributes.update({
                "http.route": "/chat", "http.request.method": "POST", "http.response.status_code": 200,
                "url.path": "/chat", "gen_ai.usage.input_tokens": 900, "gen_ai.usage.output_tokens": 300,
                "agenttrace.llm_calls": 2, "agenttrace.tool_calls": 1,
                "agenttrace.stages": ["context", "llm_call", "search"], "agenttrace.stage_calls": [1, 2, 1],
                "agenttrace.stage_durations": [0.01, 1.2, 0.3],
            })  # fmt: skip
        elif i % 5 in (1, 2):
            span.name, span.kind = "chat gpt-4o", Span.SPAN_KIND_CLIENT
            span.parent_span_id = os.urandom(8)
            attributes.update({
                "agenttrace.stage": "llm_call", "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                "gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": 450, "gen_ai.usage.output_tokens": 150,
            })  # fmt: skip
        else:
            span.name = "execute_tool search" if i % 5 == 3 else "context"
            span.parent_span_id = os.urandom(8)
            attributes.update({"agenttrace.stage": "search" if i % 5 == 3 else "context", "gen_ai.tool.name": "search"})
        span.attributes.extend(_kv(k, v) for k, v in attributes.items())
    return request.SerializeToString()


def decode_rates(payloads: list[bytes], rounds: int) -> tuple[float, float]:
    """Spans/s for (parse only, parse and turn every field and attribute into Python values)."""
    spans = 0
    began = time.perf_counter()
    for _ in range(rounds):
        for body in payloads:
            request = ExportTraceServiceRequest.FromString(body)
            spans += len(request.resource_spans[0].scope_spans[0].spans)
    parse_only = spans / (time.perf_counter() - began)
    spans = 0
    began = time.perf_counter()
    for _ in range(rounds):
        for body in payloads:
            for resource_spans in ExportTraceServiceRequest.FromString(body).resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    for s in scope_spans.spans:
                        attributes = {kv.key: any_value(kv.value) for kv in s.attributes}
                        values = (s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.start_time_unix_nano,
                                  s.end_time_unix_nano, s.status.code, attributes)  # fmt: skip
                        spans += values is not None
    return parse_only, spans / (time.perf_counter() - began)


PROTOBUF = {"content-type": "application/x-protobuf"}


def _client(port: int, payloads: list[bytes], requests: int, offset: int, results: Any) -> None:
    refused = 0
    with httpx.Client(timeout=60) as client:
        for n in range(requests):
            body = payloads[(offset + n) % len(payloads)]
            for _attempt in range(100):  # retry 503s (back-pressure), bounded
                response = client.post(f"http://127.0.0.1:{port}/v1/traces", content=body, headers=PROTOBUF)
                if response.status_code != 503:
                    break
                refused += 1
            if response.status_code != 200:
                raise SystemExit(f"unexpected answer {response.status_code}: {response.text[:200]}")
    results.put(refused)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _tree_cpu(root: int) -> float:
    """CPU seconds used so far by a running process and its descendants (Linux /proc)."""
    parents, cpu = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as file:
                    fields = file.read().rpartition(")")[2].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
            cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(cpu.get(pid, 0.0) for pid in tree)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--requests", type=int, default=60, help="requests per client")
    parser.add_argument("--spans", type=int, default=512, help="spans per request")
    parser.add_argument("--workers", type=int, default=2, help="collector HTTP worker processes")
    args = parser.parse_args()
    payloads = [payload(args.spans, seed) for seed in range(16)]
    parse_only, decode_values = decode_rates(payloads, rounds=4)

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        collector = subprocess.Popen(
            [sys.executable, "-m", "agenttrace", "collector", "--db", str(db), "--http", "127.0.0.1:0",
             "--grpc", "off", "--workers", str(args.workers)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert collector.stdout is not None
        collector.stdout.readline()
        port = int(re.search(r":(\d+) ", collector.stdout.readline()).group(1))  # type: ignore[union-attr]
        results: Any = multiprocessing.Queue()
        clients = [
            multiprocessing.Process(target=_client, args=(port, payloads, args.requests, i * 3, results))
            for i in range(args.clients)
        ]
        # CPU from here on: the collector's (startup excluded) and the clients'.
        children_cpu = _children_cpu()
        collector_cpu = _tree_cpu(collector.pid)
        began = time.perf_counter()
        for process in clients:
            process.start()
        refused = sum(results.get(timeout=600) for _ in clients)
        for process in clients:
            process.join()
        acked = time.perf_counter() - began
        clients_cpu = _children_cpu() - children_cpu
        collector.send_signal(signal.SIGTERM)
        collector.communicate(timeout=600)
        stored_at = time.perf_counter() - began
        total_cpu = _children_cpu() - children_cpu - collector_cpu
        with SpanStore.open(db) as store:
            stored = store.count()
    sent = args.clients * args.requests * args.spans
    print(f"decode only, parse:               {parse_only:12,.0f} spans/s (one process)")
    print(f"decode only, parse + values:      {decode_values:12,.0f} spans/s (one process)")
    print(f"ingest, acknowledged (200):       {sent / acked:12,.0f} spans/s ({args.clients} client processes, "
          f"{args.workers} collector workers)")  # fmt: skip
    print(f"ingest, stored in DuckDB:         {stored / stored_at:12,.0f} spans/s")
    print(f"stored / decode (parse):          {stored / stored_at / parse_only:12.1%}")
    print(f"stored / decode (parse + values): {stored / stored_at / decode_values:12.1%}")
    print(f"CPU per span, collector / clients: {(total_cpu - clients_cpu) / sent * 1e6:11.1f} / "
          f"{clients_cpu / sent * 1e6:.1f} us (collector startup excluded)")  # fmt: skip
    print(f"spans sent {sent}, stored {stored}, lost {sent - stored}; 503 answers retried: {refused}")
    return 0 if stored == sent else 1


if __name__ == "__main__":
    sys.exit(main())
