"""The knee by operational analysis, on hand-made per-bin points, and the concurrency bins."""

from __future__ import annotations

import pytest

from agenttrace.report._sat_bins import choose_bin_lows
from agenttrace.report.knee import Knee, find_knee


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        (
            [(1, 10.0, 100.0), (2, 20.0, 100.0), (8, 40.0, 200.0)],
            Knee(
                "ok",
                "operational analysis",
                "latency starts to climb at about 4.0 concurrent requests and 40.0 requests/s: throughput peaks at "
                "40.0 requests/s and an unloaded request takes 100 ms (N* = X_max x R0)",
                concurrency=4.0,
                throughput=40.0,
                unloaded_ms=100.0,
            ),
        ),
        (
            [(1, 10.0, 100.0), (2, 20.0, 100.0)],
            Knee("no_knee", "operational analysis", "needs 3 concurrency bins; the run has 2"),
        ),
        (
            [(4, 40.0, 100.0), (8, 80.0, 100.0), (16, 150.0, 140.0)],
            Knee(
                "no_knee",
                "operational analysis",
                "latency does not climb: the mean request takes 1.4x as long at 16 as at 4 concurrent requests "
                "(a knee needs 1.5x)",
                unloaded_ms=100.0,
            ),
        ),
        (
            # The bounds cross between two measured loads.
            [(4, 40.0, 100.0), (8, 80.0, 100.0), (16, 100.0, 160.0)],
            Knee(
                "ok",
                "operational analysis",
                "latency starts to climb at about 10.0 concurrent requests and 100.0 requests/s: throughput peaks "
                "at 100.0 requests/s and an unloaded request takes 100 ms (N* = X_max x R0)",
                concurrency=10.0,
                throughput=100.0,
                unloaded_ms=100.0,
            ),
        ),
        (
            [(4, 40.0, 100.0), (8, 80.0, 100.0), (16, 200.0, 160.0)],
            Knee(
                "no_knee",
                "operational analysis",
                "the bounds cross at 20.0 concurrent requests, outside the 4 to 16 the run saw",
                unloaded_ms=100.0,
            ),
        ),
    ],
    ids=["knee-at-4", "too-few-bins", "latency-flat", "knee-between-bins", "beyond-the-run"],
)
def test_find_knee(points: list[tuple[int, float, float]], expected: Knee) -> None:
    assert find_knee(points) == expected


@pytest.mark.parametrize(
    ("histogram", "lows"),
    [
        ([], []),
        ([(3, 19)], []),
        ([(3, 20)], [1]),
        ([(4, 20), (8, 20), (16, 20)], [1, 8, 16]),
        # 2 and 3 share the power of two 2; 5 joins 9..15 to reach 20; a short top group joins the bin below.
        ([(1, 30), (2, 5), (3, 20), (5, 4), (9, 16), (40, 3)], [1, 2, 4]),
        ([(100, 25), (200, 25), (300, 25)], [1, 128, 256]),
    ],
)
def test_choose_bin_lows(histogram: list[tuple[int, int]], lows: list[int]) -> None:
    assert choose_bin_lows(histogram, min_requests=20) == lows
