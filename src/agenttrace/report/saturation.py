"""Saturation: how each stage's latency grows with the number of requests in flight, and which one saturates.

Requests are grouped into concurrency bins (see ``_sat_bins``); per bin and stage the analysis gives the
latency per call and per request (the request's time in the stage), the time added over the lowest bin
(the "unloaded" reference), Little's law's mean in-flight calls, and the stage's share of the request time.
``_sat_verdict`` turns the lowest-to-highest growth into a :class:`Bottleneck`; ``knee`` finds where
latency starts to climb.

Example::

    saturation = analyse_saturation(run_data)
    print(saturation.bottleneck.reason)
    json.dumps(saturation.to_json())
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agenttrace.report._sat_bins import MIN_REQUESTS_PER_BIN, choose_bin_lows
from agenttrace.report._sat_query import (
    CLEANUP,
    CONCURRENCY_HISTOGRAM,
    PREPARE,
    RunSource,
    bin_requests_sql,
    stage_calls_sql,
    stage_requests_sql,
)
from agenttrace.report._sat_types import Bottleneck, ConcurrencyBin, StageBin, StageGrowth
from agenttrace.report._sat_verdict import judge, stage_growth
from agenttrace.report.data import fetch, span_rows
from agenttrace.report.knee import Knee, find_knee

__all__ = ["Bottleneck", "ConcurrencyBin", "Knee", "Saturation", "StageBin", "StageGrowth", "analyse_saturation"]


@dataclass(frozen=True)
class Saturation:
    """The saturation section of a report.

    Attributes:
        bins: The concurrency bins, lowest first (the first is the unloaded reference).
        stages: Each stage's growth from the lowest to the highest bin.
        bottleneck: The verdict.
        knee: Where request latency starts to climb, if the run shows it.
    """

    bins: tuple[ConcurrencyBin, ...]
    stages: tuple[StageGrowth, ...]
    bottleneck: Bottleneck
    knee: Knee

    def to_json(self) -> dict[str, Any]:
        """The JSON form (the report's ``"saturation"`` section)."""
        return {
            "bins": [item.to_json() for item in self.bins],
            "stages": [item.to_json() for item in self.stages],
            "bottleneck": self.bottleneck.to_json(),
            "knee": self.knee.to_json(),
        }


def analyse_saturation(data: RunSource, min_requests_per_bin: int = MIN_REQUESTS_PER_BIN) -> Saturation:
    """Bin the run by concurrency, measure every stage per bin, and name the stage that saturates (if any).

    Args:
        data: The run: anything with ``sql(query, params)`` over a connection with the view ``run_spans``.
        min_requests_per_bin: The fewest requests a concurrency bin may hold.

    Returns:
        The bins, each stage's growth, the bottleneck verdict and the knee.
    """
    for statement in PREPARE:
        fetch(data, statement)
    try:
        histogram = [(int(c), int(n)) for c, n in fetch(data, CONCURRENCY_HISTOGRAM)]
        requests = sum(n for _, n in histogram)
        lows = choose_bin_lows(histogram, min_requests_per_bin)
        bins = _measure_bins(data, lows) if lows else ()
    finally:
        for statement in CLEANUP:
            fetch(data, statement)
    stages = stage_growth(bins)
    bottleneck = judge(bins, stages, requests, min_requests_per_bin)
    knee = find_knee([(b.concurrency, b.throughput, b.mean_ms) for b in bins])
    return Saturation(bins=bins, stages=stages, bottleneck=bottleneck, knee=knee)


def _measure_bins(data: RunSource, lows: list[int]) -> tuple[ConcurrencyBin, ...]:
    requests = {row[0]: row for row in fetch(data, bin_requests_sql(lows))}
    calls = {(row[0], row[1]): row for row in span_rows(data, "sat_stage_calls", stage_calls_sql(lows), lows=lows)}
    per_request = {
        (row[0], row[1]): row for row in span_rows(data, "sat_stage_requests", stage_requests_sql(lows), lows=lows)
    }
    names = sorted({stage for _, stage in calls} | {stage for _, stage in per_request})
    base_calls = {stage: calls[(0, stage)][4] for stage in names if (0, stage) in calls}
    base_requests = {stage: per_request[(0, stage)][4] for stage in names if (0, stage) in per_request}
    result: list[ConcurrencyBin] = []
    for index, low in enumerate(lows):
        if index not in requests:
            continue
        _, count, (p50, p95), mean, c_min, c_median, c_max, seconds, latency_sum = requests[index]
        seconds = float(seconds or 0.0)
        stage_bins = []
        for stage in names:
            call_row = calls.get((index, stage))
            request_row = per_request.get((index, stage))
            if call_row is None and request_row is None:
                continue
            stage_bins.append(
                _stage_bin(
                    stage, call_row, request_row, base_calls.get(stage), base_requests.get(stage), seconds
                ).with_share(_critical_path_share(request_row, latency_sum))
            )
        result.append(
            ConcurrencyBin(
                low=int(c_min),
                high=int(c_max),
                concurrency=int(c_median),
                range_low=low,
                range_high=lows[index + 1] - 1 if index + 1 < len(lows) else None,
                requests=int(count),
                seconds=seconds,
                throughput=count / seconds if seconds > 0 else 0.0,
                p50_ms=float(p50),
                p95_ms=float(p95),
                mean_ms=float(mean),
                stages=tuple(stage_bins),
            )
        )
    return tuple(result)


def _stage_bin(
    stage: str,
    call_row: tuple[Any, ...] | None,
    request_row: tuple[Any, ...] | None,
    base_call_mean: float | None,
    base_request_mean: float | None,
    seconds: float,
) -> StageBin:
    calls, (call_p50, call_p95), call_mean = (call_row[2], call_row[3], call_row[4]) if call_row else (0, (0, 0), 0)
    requests, (p50, p95), mean = (request_row[2], request_row[3], request_row[4]) if request_row else (0, (0, 0), 0)
    call_added = call_mean - base_call_mean if call_row and base_call_mean is not None else None
    # Little's law, L = lambda x W: calls arriving per second at this level times the time each spends.
    arrivals = calls / seconds if seconds > 0 else 0.0
    return StageBin(
        stage=stage,
        calls=int(calls),
        call_p50_ms=float(call_p50),
        call_p95_ms=float(call_p95),
        call_mean_ms=float(call_mean),
        requests=int(requests),
        p50_ms=float(p50),
        p95_ms=float(p95),
        total_p95_ms=float(request_row[6]) if request_row else 0.0,
        mean_ms=float(mean),
        added_ms=mean - base_request_mean if request_row and base_request_mean is not None else None,
        call_added_ms=call_added,
        in_flight=arrivals * call_mean / 1e3,
        queued=arrivals * call_added / 1e3 if call_added is not None else None,
        critical_path_share=0.0,
    )


def _critical_path_share(request_row: tuple[Any, ...] | None, latency_sum_ms: float) -> float:
    """The stage's share of the bin's request time.

    A stand-in for the critical path (``report.critical_path``): the time requests spent with a call of the
    stage running over their whole latency. One place to swap when the critical path is wired in.
    """
    if request_row is None or not latency_sum_ms:
        return 0.0
    return float(request_row[5]) / float(latency_sum_ms)
