"""The saturation verdict on synthetic runs whose concurrency levels and stage timings are chosen by hand."""

from __future__ import annotations

import json

import pytest

from agenttrace.report.saturation import Saturation, analyse_saturation
from tests.report.synthetic import Call, Shape, SyntheticRun, sequential

# (requests in flight, phases): 20-32 requests per level, 4 to 96 in flight.
LOADS = [(4, 5), (8, 3), (16, 2), (32, 1), (96, 1)]


def analyse(shape: Shape, loads: list[tuple[int, int]] = LOADS, tail_ms: float = 5.0) -> Saturation:
    run = SyntheticRun(tail_ms=tail_ms)
    for concurrency, repeats in loads:
        run.phase(concurrency, repeats, shape)
    return analyse_saturation(run.source())


def throttled(concurrency: int, index: int) -> list[Call]:
    # context_load behind a pool sized for 4: its time grows with the requests in flight.
    return sequential(("context_load", 20 * concurrency / 4), ("llm_call", 1000), ("tool_call", 200))


def uniformly_slow(concurrency: int, index: int) -> list[Call]:
    # llm_call is slow at every load; context_load wobbles by 3 ms at the highest.
    return sequential(("context_load", 8 if concurrency == 96 else 5), ("llm_call", 2000), ("tool_call", 200))


def process_delay(concurrency: int, index: int) -> list[Call]:
    # A saturated event loop: every call of every stage takes the same extra time, 40 ms at 96 in flight.
    extra = 40 * (concurrency - 4) / 92
    return sequential(("context_load", 5 + extra), ("llm_call", 1000 + extra), ("tool_call", 200 + extra))


def parallel_tools(concurrency: int, index: int) -> list[Call]:
    # Three tools at once after the model call; the third is serialised (20 ms each, one at a time).
    return [
        ("llm_call", 0, 500),
        ("tool_call", 500, 700),
        ("tool_call", 500, 700),
        ("tool_call", 500, 500 + 20 * (index + 1)),
    ]


@pytest.mark.parametrize(
    ("shape", "kind", "stage", "reason"),
    [
        (
            throttled,
            "stage",
            "context_load",
            "context_load: p95 grows 24x from 4 to 96 concurrent requests (+460 ms per request) while llm_call "
            "grows 1.0x; its share of the critical path rises from 2% to 28%",
        ),
        (
            uniformly_slow,
            "none",
            None,
            "no stage saturates: from 4 to 96 concurrent requests no stage's p95 grows 2x while adding 110 ms per "
            "request (the largest gain: context_load, 1.6x, +3 ms)",
        ),
        (
            process_delay,
            "process",
            None,
            "the service process saturates, not one stage: from 4 to 96 concurrent requests every stage's calls "
            "take about 40 ms longer (context_load +40 ms, llm_call +40 ms, tool_call +40 ms)",
        ),
        (
            parallel_tools,
            "stage",
            "tool_call",
            "tool_call: p95 grows 9.1x from 4 to 96 concurrent requests (+779 ms per request) while llm_call "
            "grows 1.0x; its share of the critical path rises from 28% to 66%",
        ),
    ],
    ids=["throttled", "uniformly-slow", "process", "parallel-tools"],
)
def test_verdict(shape: Shape, kind: str, stage: str | None, reason: str) -> None:
    saturation = analyse(shape)
    assert saturation.bottleneck.to_json() == {"kind": kind, "stage": stage, "reason": reason}
    assert [(b.low, b.high, b.concurrency) for b in saturation.bins] == [(c, c, c) for c, _ in LOADS]
    assert [b.requests for b in saturation.bins] == [20, 24, 32, 32, 96]


def test_a_slow_stage_tops_the_request_time_at_every_load_but_is_not_the_bottleneck() -> None:
    saturation = analyse(uniformly_slow)
    for concurrency_bin in saturation.bins:
        top = max(concurrency_bin.stages, key=lambda item: item.critical_path_share)
        assert (top.stage, top.p95_ms) == ("llm_call", 2000.0)
    assert saturation.bottleneck.kind == "none"


def test_process_saturation_is_not_blamed_on_the_shortest_stage_by_ratio() -> None:
    saturation = analyse(process_delay)
    # By ratio alone the shortest stage looks worst: 5 ms -> 45 ms is 9x, 1000 ms -> 1040 ms is 1.04x.
    growth = {item.stage: round(item.growth, 2) for item in saturation.stages}
    assert growth == {"context_load": 9.0, "llm_call": 1.04, "tool_call": 1.2}
    assert {item.stage: round(item.call_added_ms, 6) for item in saturation.stages} == {
        "context_load": 40.0,
        "llm_call": 40.0,
        "tool_call": 40.0,
    }


def test_a_serialised_parallel_tool_hides_in_the_per_call_median_and_shows_per_request() -> None:
    saturation = analyse(parallel_tools)
    low, high = saturation.bins[0].stage("tool_call"), saturation.bins[-1].stage("tool_call")
    assert low is not None and high is not None
    # Per call, two of every three tool calls take 200 ms at every load: the median does not move.
    assert (low.call_p50_ms, high.call_p50_ms) == (200.0, 200.0)
    # Per request, the stage lasts as long as its longest parallel call: 200 ms unloaded, up to 1920 ms at 96.
    assert (low.p95_ms, high.p95_ms, high.mean_ms) == (200.0, 1825.0, 979.375)
    # The sum of the calls' durations is not the time the request spent in the stage.
    assert (low.total_p95_ms, high.total_p95_ms) == (480.0, 2225.0)


def test_bin_figures_and_littles_law() -> None:
    saturation = analyse(throttled)
    high = saturation.bins[-1]
    context_load = high.stage("context_load")
    assert context_load is not None
    # 96 requests over the 1.685 s that 96 were in flight; each context_load call waited 460 ms more than unloaded.
    assert high.seconds == pytest.approx(1.685)
    assert high.throughput == pytest.approx(96 / 1.685)
    assert context_load.in_flight == pytest.approx(96 / 1.685 * 0.480)
    assert context_load.queued == pytest.approx(96 / 1.685 * 0.460)
    assert saturation.bins[0].to_json() == {
        "low": 4,
        "high": 4,
        "concurrency": 4,
        "range": [1, 7],
        "requests": 20,
        "seconds": 6.125,
        "throughput": 3.265,
        "p50_ms": 1225.0,
        "p95_ms": 1225.0,
        "stages": [
            {
                "stage": "context_load",
                "calls": 20,
                "call_p50_ms": 20.0,
                "call_p95_ms": 20.0,
                "call_added_ms": 0.0,
                "requests": 20,
                "p50_ms": 20.0,
                "p95_ms": 20.0,
                "total_p95_ms": 20.0,
                "added_ms": 0.0,
                "in_flight": 0.065,
                "queued": 0.0,
                "critical_path_share": 0.0163,
            },
            {
                "stage": "llm_call",
                "calls": 20,
                "call_p50_ms": 1000.0,
                "call_p95_ms": 1000.0,
                "call_added_ms": 0.0,
                "requests": 20,
                "p50_ms": 1000.0,
                "p95_ms": 1000.0,
                "total_p95_ms": 1000.0,
                "added_ms": 0.0,
                "in_flight": 3.265,
                "queued": 0.0,
                "critical_path_share": 0.8163,
            },
            {
                "stage": "tool_call",
                "calls": 20,
                "call_p50_ms": 200.0,
                "call_p95_ms": 200.0,
                "call_added_ms": 0.0,
                "requests": 20,
                "p50_ms": 200.0,
                "p95_ms": 200.0,
                "total_p95_ms": 200.0,
                "added_ms": 0.0,
                "in_flight": 0.653,
                "queued": 0.0,
                "critical_path_share": 0.1633,
            },
        ],
    }
    json.dumps(saturation.to_json(), allow_nan=False)


@pytest.mark.parametrize(
    ("loads", "reason"),
    [
        (
            [(4, 3)],
            "insufficient data: 12 requests fill 0 concurrency bin(s) of at least 20 requests; the verdict needs 2",
        ),
        (
            [(4, 5), (8, 2)],
            "insufficient data: 36 requests fill 1 concurrency bin(s) of at least 20 requests; the verdict needs 2",
        ),
        (
            [(6, 4), (8, 3)],
            "insufficient data: concurrency only ranges from 6 to 8 requests in flight; the verdict needs the "
            "highest bin at 2x the lowest",
        ),
    ],
    ids=["too-few-requests", "one-bin", "narrow-load"],
)
def test_insufficient_data(loads: list[tuple[int, int]], reason: str) -> None:
    saturation = analyse(throttled, loads)
    assert saturation.bottleneck.to_json() == {"kind": "none", "stage": None, "reason": reason}


def test_an_empty_run() -> None:
    saturation = analyse_saturation(SyntheticRun().source())
    assert saturation.to_json() == {
        "bins": [],
        "stages": [],
        "bottleneck": {
            "kind": "none",
            "stage": None,
            "reason": "insufficient data: 0 requests fill 0 concurrency bin(s) of at least 20 requests; the "
            "verdict needs 2",
        },
        "knee": {
            "status": "no_knee",
            "method": "operational analysis",
            "reason": "needs 3 concurrency bins; the run has 0",
            "concurrency": None,
            "throughput": None,
            "unloaded_ms": None,
        },
    }


def test_a_knee_at_a_known_concurrency() -> None:
    # Unloaded a request takes 100 ms and the service completes at most 40 per second: the knee is at 4.
    saturation = analyse(
        lambda concurrency, index: sequential(("llm_call", max(100, 25 * concurrency))),
        [(1, 20), (2, 10), (4, 5), (8, 3), (16, 2), (32, 1)],
        tail_ms=0.0,
    )
    assert [round(b.throughput, 9) for b in saturation.bins] == [10.0, 20.0, 40.0, 40.0, 40.0, 40.0]
    assert saturation.knee.to_json() == {
        "status": "ok",
        "method": "operational analysis",
        "reason": "latency starts to climb at about 4.0 concurrent requests and 40.0 requests/s: throughput "
        "peaks at 40.0 requests/s and an unloaded request takes 100 ms (N* = X_max x R0)",
        "concurrency": 4.0,
        "throughput": 40.0,
        "unloaded_ms": 100.0,
    }
