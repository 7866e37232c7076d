"""What a stage costs next to a raw OpenTelemetry span, measured side by side in one process.

Run: ``.venv/bin/python bench/stage_overhead.py`` (``--calls`` / ``--rounds`` to change the sample).

Every variant runs on the same SDK pipeline (BatchSpanProcessor into an exporter that drops), interleaved
round by round so machine noise hits all of them alike; the figure per variant is its median round.
Printed: microseconds per call and the ratios the targets are stated in:
- stage / raw ``tracer.start_as_current_span`` with the same attributes (sync and async), target <= 1.10;
- unsampled stage / the SDK's own unsampled span (ALWAYS_OFF sampler), target <= 1.10.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

import agenttrace

ATTRIBUTES = {
    "agenttrace.stage": "llm_call",
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
}


class DropExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def provider(sampled: bool) -> TracerProvider:
    tp = TracerProvider(sampler=None if sampled else ALWAYS_OFF)
    tp.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=1 << 16))
    return tp


def variants(tp: TracerProvider) -> dict[str, Callable[[int], float]]:
    tracer = tp.get_tracer("bench")

    def work() -> int:
        return 1

    async def awork() -> int:
        return 1

    staged = agenttrace.stage("llm_call", model="gpt-4o-mini", provider="openai", tracer_provider=tp)(work)
    astaged = agenttrace.stage("llm_call", model="gpt-4o-mini", provider="openai", tracer_provider=tp)(awork)

    def raw_sync(n: int) -> float:
        t = time.perf_counter()
        for _ in range(n):
            with tracer.start_as_current_span("chat gpt-4o-mini", kind=trace.SpanKind.CLIENT, attributes=ATTRIBUTES):
                work()
        return time.perf_counter() - t

    def stage_sync(n: int) -> float:
        t = time.perf_counter()
        for _ in range(n):
            staged()
        return time.perf_counter() - t

    async def araw(n: int) -> float:
        t = time.perf_counter()
        for _ in range(n):
            with tracer.start_as_current_span("chat gpt-4o-mini", kind=trace.SpanKind.CLIENT, attributes=ATTRIBUTES):
                await awork()
        return time.perf_counter() - t

    async def astage(n: int) -> float:
        t = time.perf_counter()
        for _ in range(n):
            await astaged()
        return time.perf_counter() - t

    def plain(n: int) -> float:
        t = time.perf_counter()
        for _ in range(n):
            work()
        return time.perf_counter() - t

    return {
        "raw_sync": raw_sync,
        "stage_sync": stage_sync,
        "raw_async": lambda n: asyncio.run(araw(n)),
        "stage_async": lambda n: asyncio.run(astage(n)),
        "plain_call": plain,
    }


def measure(calls: int, rounds: int) -> dict[str, float]:
    sampled, unsampled = provider(True), provider(False)
    runs: dict[str, Callable[[int], float]] = {}
    runs.update(variants(sampled))
    off = variants(unsampled)
    runs["raw_unsampled"] = off["raw_sync"]
    runs["stage_unsampled"] = off["stage_sync"]
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():  # warm-up
        run(max(1, calls // 10))
    for r in range(rounds):
        order = list(runs.items())
        if r % 2:
            order.reverse()
        for name, run in order:
            samples[name].append(run(calls) / calls * 1e6)
    sampled.shutdown()
    unsampled.shutdown()
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    us = measure(args.calls, args.rounds)
    print(f"{'variant':<18}{'us/call':>10}")
    for name, value in us.items():
        print(f"{name:<18}{value:>10.2f}")
    ratios: dict[str, Any] = {
        "stage/raw sync": us["stage_sync"] / us["raw_sync"],
        "stage/raw async": us["stage_async"] / us["raw_async"],
        "unsampled stage/unsampled raw": us["stage_unsampled"] / us["raw_unsampled"],
    }
    print()
    for name, ratio in ratios.items():
        verdict = "ok" if ratio <= 1.10 else "OVER TARGET"
        print(f"{name:<32}{ratio:>6.3f}  (target <= 1.10: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
