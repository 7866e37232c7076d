"""The saturation verdict: which stage saturates, or the process, or none; every threshold a named constant.

Rules, in order (the lowest concurrency bin is the unloaded reference, the highest the loaded one):

1. Insufficient data: fewer than ``MIN_BINS`` bins, or the highest bin's concurrency under ``MIN_LOAD_RATIO``
   times the lowest's -> kind ``none`` with the reason.
2. The process: when every judged stage's calls gain at least ``MIN_ADDED_MS`` each and the gains are within
   ``PROCESS_SPREAD`` of each other, and requests gain ``MIN_ADDED_SHARE`` of their unloaded latency, the
   service process (event loop, CPU) is what saturates: it delays every stage alike, and ratios would make the
   shortest stage look worst -> kind ``process`` with the added milliseconds.
3. A stage: among the judged stages whose per-request p95 grows ``STAGE_MIN_GROWTH`` or more, whose time per
   request gains ``MIN_ADDED_MS`` and ``MIN_ADDED_SHARE`` of the unloaded request latency, and whose per-call
   gain is ``STAGE_DOMINANCE`` times every other stage's, the one adding the most time -> kind ``stage``. A
   stage slow at every load grows by neither measure, so it is never named for being slow.
4. Otherwise kind ``none``.
"""

from __future__ import annotations

from collections.abc import Sequence

from agenttrace.report._sat_types import Bottleneck, ConcurrencyBin, StageGrowth

# Two bins (unloaded and loaded) are the least a growth can be measured between.
MIN_BINS = 2
# The loaded bin must have at least twice the unloaded bin's requests in flight, or growth is mostly noise.
MIN_LOAD_RATIO = 2.0
# A stage is judged only with this many requests running it in both the lowest and the highest bin.
MIN_STAGE_REQUESTS = 10
# A saturating stage's per-request p95 at least doubles: contention and noise at a healthy stage stay below.
STAGE_MIN_GROWTH = 2.0
# Added time under 10 ms is scheduling and timer noise next to requests that take seconds.
MIN_ADDED_MS = 10.0
# Added time under 5% of the unloaded request latency does not matter to a caller.
MIN_ADDED_SHARE = 0.05
# Per-call gains within a factor of 2 of each other across every stage are "alike": one cause delays all.
PROCESS_SPREAD = 2.0
# A named stage's per-call gain is at least twice any other stage's, so it stands out from a shared delay.
STAGE_DOMINANCE = 2.0
# Floor for a p95 in a ratio, so a stage that took 0 ms unloaded gives a finite growth.
_P95_FLOOR_MS = 0.001


def stage_growth(bins: Sequence[ConcurrencyBin]) -> tuple[StageGrowth, ...]:
    """Each stage's growth from the lowest to the highest bin (stages missing from either are not judged)."""
    if not bins:
        return ()
    low, high = bins[0], bins[-1]
    names = sorted({item.stage for b in bins for item in b.stages})
    result = []
    for name in names:
        before, after = low.stage(name), high.stage(name)
        judged = (
            len(bins) >= MIN_BINS
            and before is not None
            and after is not None
            and min(before.requests, after.requests) >= MIN_STAGE_REQUESTS
        )
        low_p95 = before.p95_ms if before else 0.0
        high_p95 = after.p95_ms if after else 0.0
        result.append(
            StageGrowth(
                stage=name,
                low_p95_ms=low_p95,
                high_p95_ms=high_p95,
                growth=high_p95 / max(low_p95, _P95_FLOOR_MS) if before and after else 1.0,
                added_ms=(after.added_ms or 0.0) if after else 0.0,
                call_added_ms=(after.call_added_ms or 0.0) if after else 0.0,
                low_share=before.critical_path_share if before else 0.0,
                high_share=after.critical_path_share if after else 0.0,
                judged=judged,
            )
        )
    return tuple(result)


def judge(
    bins: Sequence[ConcurrencyBin], stages: Sequence[StageGrowth], requests: int, min_requests_per_bin: int
) -> Bottleneck:
    """The verdict for a run's bins and stage growths (rules in the module docstring)."""
    if len(bins) < MIN_BINS:
        return Bottleneck(
            "none",
            None,
            f"insufficient data: {requests} requests fill {len(bins)} concurrency bin(s) of at least "
            f"{min_requests_per_bin} requests; the verdict needs {MIN_BINS}",
        )
    low, high = bins[0], bins[-1]
    if high.concurrency < MIN_LOAD_RATIO * low.concurrency:
        return Bottleneck(
            "none",
            None,
            f"insufficient data: concurrency only ranges from {low.concurrency} to {high.concurrency} requests in "
            f"flight; the verdict needs the highest bin at {MIN_LOAD_RATIO:g}x the lowest",
        )
    loads = f"from {low.concurrency} to {high.concurrency} concurrent requests"
    judged = [item for item in stages if item.judged]
    if not judged:
        return Bottleneck(
            "none",
            None,
            f"no stage saturates: no stage ran in at least {MIN_STAGE_REQUESTS} requests of both the lowest and "
            "the highest concurrency bin",
        )
    significant = max(MIN_ADDED_MS, MIN_ADDED_SHARE * low.mean_ms)
    gains = [item.call_added_ms for item in judged]
    if (
        len(judged) >= 2
        and min(gains) >= MIN_ADDED_MS
        and max(gains) <= PROCESS_SPREAD * min(gains)
        and high.mean_ms - low.mean_ms >= significant
    ):
        typical = sorted(gains)[len(gains) // 2]
        each = ", ".join(f"{item.stage} +{_ms(item.call_added_ms)} ms" for item in judged)
        return Bottleneck(
            "process",
            None,
            f"the service process saturates, not one stage: {loads} every stage's calls take about "
            f"{_ms(typical)} ms longer ({each})",
        )
    candidates = [
        item
        for item in judged
        if item.growth >= STAGE_MIN_GROWTH
        and item.added_ms >= significant
        and all(item.call_added_ms >= STAGE_DOMINANCE * other.call_added_ms for other in judged if other is not item)
    ]
    if candidates:
        named = max(candidates, key=lambda item: item.added_ms)
        others = [item for item in judged if item is not named]
        contrast = ""
        if others:
            runner_up = max(others, key=lambda item: item.growth)
            contrast = f" while {runner_up.stage} grows {_times(runner_up.growth)}"
        return Bottleneck(
            "stage",
            named.stage,
            f"{named.stage}: p95 grows {_times(named.growth)} {loads} (+{_ms(named.added_ms)} ms per request)"
            f"{contrast}; its share of the critical path {_share_change(named.low_share, named.high_share)}",
        )
    top = max(judged, key=lambda item: item.added_ms)
    return Bottleneck(
        "none",
        None,
        f"no stage saturates: {loads} no stage's p95 grows {STAGE_MIN_GROWTH:g}x while adding {_ms(significant)} ms "
        f"per request (the largest gain: {top.stage}, {_times(top.growth)}, {_signed_ms(top.added_ms)} ms)",
    )


def _times(ratio: float) -> str:
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def _ms(value: float) -> str:
    return f"{value:,.0f}"


def _signed_ms(value: float) -> str:
    return f"{value:+,.0f}"


def _share_change(before: float, after: float) -> str:
    first, last = round(100 * before), round(100 * after)
    if first == last:
        return f"stays at {first}%"
    return f"{'rises' if last > first else 'falls'} from {first}% to {last}%"
