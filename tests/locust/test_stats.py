from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from agenttrace._loadrun.propagation import baggage, new_traceparent
from agenttrace._loadrun.report import stage_rows, table, trace_link
from agenttrace._loadrun.stats import KEEP_TRACES, RunStats, StageStats, TracedRequest, bucket, percentile
from agenttrace.servertiming import ServerTiming, StageTiming


@pytest.mark.parametrize(
    ("ms", "key"),
    [(0.0, 0), (0.04, 0), (0.26, 3), (9.94, 99), (12.345, 123), (99.96, 1000), (456.7, 4570), (12345.0, 123000)],
)
def test_buckets_keep_tenths_below_10ms_and_three_digits_above(ms: float, key: int) -> None:
    assert bucket(ms) == key


def test_counted_durations_bucket_as_one_by_one() -> None:
    edges = [0.0, 0.04, 0.05, 9.95, 99.94, 99.95, 99.96, 100.0, 100.5, 999.4, 999.5, 999.99, 1000.0, 1004.9, 1005.0]
    edges += [9994.9, 9995.0, 9999.99, 10000.0, 123456.7, 1e7, 3.2e12]
    rng = random.Random(5)
    durations = edges + [round(rng.lognormvariate(5, 3), 1) for _ in range(5000)]
    one, counted = StageStats(), StageStats()
    for ms in durations:
        one.add(ms, 2)
    counted.add_counted(dict(Counter(durations)), len(durations), 2 * len(durations))
    got = (counted.requests, counted.calls, counted.max_ms, counted.histogram)
    assert got == (one.requests, one.calls, one.max_ms, one.histogram)
    assert counted.sum_ms == pytest.approx(one.sum_ms)


def test_percentiles_of_merged_workers_equal_those_of_all_data() -> None:
    rng = random.Random(7)
    samples = [rng.lognormvariate(4, 1) for _ in range(2000)]
    whole, left, right = StageStats(), StageStats(), StageStats()
    for i, ms in enumerate(samples):
        whole.add(ms, 2)
        (left if i % 3 else right).add(ms, 2)
    merged = StageStats.from_wire(left.to_wire())
    merged.merge(StageStats.from_wire(right.to_wire()))
    assert (merged.requests, merged.calls, merged.max_ms, merged.histogram) == (
        whole.requests,
        whole.calls,
        whole.max_ms,
        whole.histogram,
    )
    assert merged.sum_ms == pytest.approx(whole.sum_ms)
    exact = sorted(samples)
    for fraction in (0.5, 0.95, 0.99):
        true = exact[int(len(exact) * fraction) - 1]
        assert merged.percentile(fraction) == pytest.approx(true, rel=0.006, abs=0.05)


def test_percentile_edges() -> None:
    assert percentile({}, 0, 0.5) == 0.0
    assert percentile({5: 1, 20: 1, 30: 2}, 4, 0.5) == 2.0
    assert percentile({5: 1, 20: 1, 30: 2}, 4, 0.99) == 3.0


def timing(llm_ms: float) -> ServerTiming:
    return ServerTiming(
        stages={"llm_call": StageTiming(llm_ms, 2), "tool": StageTiming(1.0, 1)},
        llm_calls=2,
        tool_calls=1,
        input_tokens=150,
        output_tokens=30,
        total_ms=llm_ms + 2,
    )


def test_run_stats_merge_on_the_master() -> None:
    workers = [RunStats(), RunStats()]
    for i in range(40):
        workers[i % 2].add(timing(float(i)))
        failed = i % 10 == 0
        workers[i % 2].keep_trace(TracedRequest(float(i), "ask", f"{i:032x}", "boom" if failed else ""), failed)
    master = RunStats()
    for worker in workers:
        master.merge(RunStats.from_wire(worker.to_wire()))
    assert (master.requests, master.llm_calls, master.tool_calls) == (40, 80, 40)
    assert (master.input_tokens, master.output_tokens, master.failures) == (6000, 1200, 4)
    assert sorted(t.response_time_ms for t in master.failed) == [0.0, 10.0, 20.0, 30.0]
    slowest = sorted((t.response_time_ms for t in master.slowest), reverse=True)
    assert slowest == [39.0, 38.0, 37.0, 36.0, 35.0, 34.0, 33.0, 32.0, 31.0, 29.0][:KEEP_TRACES]
    rows = stage_rows(master)
    assert [(name, n, calls, per) for name, n, calls, per, *_ in rows] == [
        ("llm_call", 40, 80, 2.0),
        ("tool", 40, 40, 1.0),
        ("total", 40, 40, 1.0),
    ]
    text = table(master)
    assert "per request: LLM calls 2.00, tool calls 1.00, input tokens 150.0, output tokens 30.0" in text


def test_trace_links() -> None:
    assert trace_link("ab" * 16, "http://jaeger:16686/") == "http://jaeger:16686/trace/" + "ab" * 16
    assert trace_link("ab" * 16, None) == "ab" * 16
    assert trace_link("", "http://jaeger:16686") == "-"


def test_headers() -> None:
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", new_traceparent())
    assert baggage("run 1", "POST /ask,now", "u-1") == (
        "agenttrace.run_id=run%201,agenttrace.scenario=POST%20/ask%2Cnow,agenttrace.user=u-1"
    )
