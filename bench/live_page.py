"""Does watching the live page slow ingest? Ingest throughput with and without a page polling the collector.

Each round starts `agenttrace collector` (a subprocess on 127.0.0.1), pushes pre-built OTLP/HTTP protobuf
batches from several client processes (bench/ingest.py's payloads and clients) and measures stored spans/s
(the clock stops when the collector has exited, so the last load into DuckDB counts). In the "page" rounds
one more process reads what the page reads (runs, the run's live report and series, and every fourth poll
the slowest trace as if clicked), one poll every --poll seconds (the page itself polls every 2 s, and only
after the previous poll ended). The collector's CPU per span is printed too: on a shared machine it is
steadier than throughput. Rounds alternate (plain, page, plain, page, ...) so drift on a shared machine hits
both alike; the ratio of the medians is printed (target: >= 0.90).

    .venv/bin/python bench/live_page.py [--rounds 3] [--clients 4] [--requests 150] [--workers 2] [--poll 0.5]
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from agenttrace.store import SpanStore
from bench.ingest import _client, _kv, _tree_cpu, payload


def page_payload(spans: int, seed: int) -> bytes:
    """bench/ingest.py's request, its SERVER spans carrying a time to first byte as the middleware records it."""
    request = ExportTraceServiceRequest.FromString(payload(spans, seed))
    for span in request.resource_spans[0].scope_spans[0].spans:
        if span.kind == Span.SPAN_KIND_SERVER:
            span.attributes.append(_kv("agenttrace.response.time_to_first_byte", 0.4))
    return request.SerializeToString()


def _poll(api: str, every: float, stop: Any, counts: Any) -> None:
    """Read what the live page reads, every ``every`` seconds, until ``stop`` is set."""
    polls = failures = 0
    with httpx.Client(base_url=api, timeout=60) as client:
        while not stop.wait(every):
            runs = client.get("/api/v1/runs")
            live = client.get("/api/v1/live", params={"run": "bench"})
            answers = [runs, live]
            if polls % 4 == 0 and live.status_code == 200 and live.json()["report"]["slowest"]:  # a click now and then
                answers.append(client.get(f"/api/v1/traces/{live.json()['report']['slowest'][0]['trace_id']}"))
            polls += 1
            # 404 until the first request span is stored
            failures += sum(r.status_code not in (200, 404) for r in answers)
    counts.put((polls, failures))


def one_round(payloads: list[bytes], args: argparse.Namespace, page: bool) -> tuple[float, int, float]:
    """Stored spans/s of one collector run, polls made (when ``page``), collector CPU us per span until acked."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        collector = subprocess.Popen(
            [sys.executable, "-m", "agenttrace", "collector", "--db", str(db), "--http", "127.0.0.1:0",
             "--grpc", "off", "--workers", str(args.workers)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert collector.stdout is not None
        lines = [collector.stdout.readline() for _ in range(4 if args.workers > 1 else 3)]
        port = int(re.search(r":(\d+) \(OTLP", lines[1]).group(1))  # type: ignore[union-attr]
        api = re.search(r"live page on (\S+)/ui/", lines[-1]).group(1)  # type: ignore[union-attr]
        results: Any = multiprocessing.Queue()
        counts: Any = multiprocessing.Queue()
        stop = multiprocessing.Event()
        clients = [
            multiprocessing.Process(target=_client, args=(port, payloads, args.requests, i * 3, results))
            for i in range(args.clients)
        ]
        poller = multiprocessing.Process(target=_poll, args=(api, args.poll, stop, counts)) if page else None
        began = time.perf_counter()
        for process in clients:
            process.start()
        if poller is not None:
            poller.start()
        for _ in clients:
            results.get(timeout=600)
        for process in clients:
            process.join()
        stop.set()
        cpu = _tree_cpu(collector.pid)
        polls, failures = counts.get(timeout=120) if poller is not None else (0, 0)
        if poller is not None:
            poller.join()
        collector.send_signal(signal.SIGTERM)
        collector.communicate(timeout=600)
        elapsed = time.perf_counter() - began
        with SpanStore.open(db) as store:
            stored = store.count()
    sent = args.clients * args.requests * args.spans
    if stored != sent or failures:
        raise SystemExit(f"spans sent {sent}, stored {stored}; failed page reads {failures}")
    return stored / elapsed, polls, cpu / sent * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each kind (interleaved)")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--requests", type=int, default=150, help="requests per client")
    parser.add_argument("--spans", type=int, default=512, help="spans per request")
    parser.add_argument("--workers", type=int, default=2, help="collector HTTP worker processes")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between two polls of the page's reads")
    args = parser.parse_args()
    payloads = [page_payload(args.spans, seed) for seed in range(16)]
    rates: dict[bool, list[float]] = {False: [], True: []}
    cpus: dict[bool, list[float]] = {False: [], True: []}
    for n in range(args.rounds):
        for page in (False, True):
            rate, polls, cpu = one_round(payloads, args, page)
            rates[page].append(rate)
            cpus[page].append(cpu)
            label = f"with page ({polls} polls)" if page else "without page"
            print(f"round {n + 1}, {label:22} {rate:12,.0f} spans/s, collector {cpu:5.1f} us CPU/span", flush=True)
    ratio = statistics.median(rates[True]) / statistics.median(rates[False])
    print(f"median without page:            {statistics.median(rates[False]):12,.0f} spans/s")
    print(f"median with page polled every {args.poll} s: {statistics.median(rates[True]):9,.0f} spans/s")
    cpu_ratio = statistics.median(cpus[True]) / statistics.median(cpus[False])
    print(f"collector CPU per span with / without: {cpu_ratio:5.3f}")
    print(f"ratio with / without:           {ratio:12.3f} (target >= 0.90)")
    return 0 if ratio >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
