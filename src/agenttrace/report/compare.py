"""Run-vs-run comparison: which metrics of a candidate run are worse than the baseline's beyond noise.

Each metric (request p95, error rate, LLM and tool calls per request, tokens per request, goodput with an
SLO, each stage's p95) is computed from both runs' samples (:mod:`agenttrace.report.samples`). Its change is
``candidate / baseline - 1``. How far the change could move between two runs of the same build is
estimated with a bootstrap: both runs' samples are resampled ``RESAMPLES`` times (requests as units; a
stage's calls as units), the statistic recomputed, and the middle ``CONFIDENCE`` share of the resampled
changes is the confidence interval. The random generator is seeded from the metric's name, so the same two
runs always give the same numbers.

The noise rule: a metric is a *regression* only when its whole confidence interval is past the limit
(``--max-regression``), that is when the change is worse than the limit even at its most favourable
plausible value. A change past the limit whose interval reaches back inside it is *within noise*; two runs
of the same build thus pass, while one stage 30% slower on a few hundred calls fails. A metric with fewer
than ``MIN_SAMPLES`` values in either run is not judged.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from agenttrace.report.samples import REQUEST_FIELDS

#: Bootstrap resamples per metric.
RESAMPLES = 1000
#: Share of the resampled changes inside the confidence interval.
CONFIDENCE = 0.95
#: Fixed seed: the same two runs always give the same intervals.
SEED = 20240610
#: Fewer values than this in either run: the metric is shown but not judged.
MIN_SAMPLES = 20
#: Default largest tolerated change (5%).
DEFAULT_MAX_REGRESSION = 0.05
PERCENTILE = 0.95

REGRESSION = "regression"
IMPROVEMENT = "improvement"
NOISE = "within noise"
OK = "ok"
TOO_FEW = "too few samples"
ONLY_BASELINE = "only in baseline"
ONLY_CANDIDATE = "only in candidate"

Floats = npt.NDArray[np.float64]


class CompareError(ValueError):
    """A comparison input is unusable; the message is one line meant for the user."""


@dataclass(frozen=True)
class Profile:
    """One run to compare: a label (run id or file) and its samples (the JSON report's ``"samples"``)."""

    label: str
    samples: dict[str, Any]


@dataclass(frozen=True)
class Row:
    """One compared metric. ``change`` and the interval are ``inf`` when the baseline value is 0."""

    metric: str
    stage: str | None
    unit: str
    baseline: float | None
    candidate: float | None
    change: float | None
    ci_low: float | None
    ci_high: float | None
    verdict: str


@dataclass(frozen=True)
class Comparison:
    """Every compared metric and the verdict."""

    baseline: str
    candidate: str
    max_regression: float
    rows: list[Row]

    @property
    def regressions(self) -> list[Row]:
        """The rows past the limit beyond noise: the reason to fail the gate."""
        return [row for row in self.rows if row.verdict == REGRESSION]


@dataclass(frozen=True)
class _Metric:
    metric: str
    stage: str | None
    unit: str
    statistic: Callable[[Floats], Floats]  # (resamples, n) -> (resamples,); works on a 1-row matrix too
    higher_is_worse: bool


def _p95(values: Floats) -> Floats:
    return np.quantile(values, PERCENTILE, axis=-1)


def _mean(values: Floats) -> Floats:
    return np.asarray(np.mean(values, axis=-1), dtype=np.float64)


def compare(
    baseline: Profile, candidate: Profile, max_regression: float = DEFAULT_MAX_REGRESSION, slo_ms: float | None = None
) -> Comparison:
    """Compare two runs metric by metric (the rule: module docstring).

    Args:
        baseline: The reference run.
        candidate: The run under test.
        max_regression: Largest tolerated change, as a fraction (0.05 is 5%).
        slo_ms: With a latency SLO, also compare goodput: the share of requests without error within it.

    Example:
        >>> result = compare(Profile("main", report_a["samples"]), Profile("pr", report_b["samples"]))  # doctest: +SKIP
        >>> [row.metric for row in result.regressions]  # doctest: +SKIP
        ['stage p95']
    """
    rows: list[Row] = []
    base_requests = _requests(baseline)
    cand_requests = _requests(candidate)
    for metric, values in _request_metrics(slo_ms):
        rows.append(_row(metric, values(base_requests), values(cand_requests), max_regression))
    base_stages = _stages(baseline)
    cand_stages = _stages(candidate)
    for stage in sorted(base_stages.keys() | cand_stages.keys()):
        metric = _Metric("stage p95", stage, "ms", _p95, higher_is_worse=True)
        if stage not in cand_stages or stage not in base_stages:
            present, verdict = (base_stages, ONLY_BASELINE) if stage in base_stages else (cand_stages, ONLY_CANDIDATE)
            value = float(_p95(present[stage])) if len(present[stage]) else None
            base, cand = (value, None) if verdict == ONLY_BASELINE else (None, value)
            rows.append(Row(metric.metric, stage, metric.unit, base, cand, None, None, None, verdict))
            continue
        rows.append(_row(metric, base_stages[stage], cand_stages[stage], max_regression))
    return Comparison(baseline.label, candidate.label, max_regression, rows)


def _request_metrics(slo_ms: float | None) -> list[tuple[_Metric, Callable[[dict[str, Floats]], Floats]]]:
    metrics: list[tuple[_Metric, Callable[[dict[str, Floats]], Floats]]] = [
        (_Metric("request p95", None, "ms", _p95, True), lambda r: r["latency_ms"]),
        (_Metric("error rate", None, "%", _mean, True), lambda r: r["error"]),
        (_Metric("LLM calls/request", None, "", _mean, True), lambda r: r["llm_calls"]),
        (_Metric("tool calls/request", None, "", _mean, True), lambda r: r["tool_calls"]),
        (_Metric("input tokens/request", None, "", _mean, True), lambda r: r["input_tokens"]),
        (_Metric("output tokens/request", None, "", _mean, True), lambda r: r["output_tokens"]),
    ]
    if slo_ms is not None:
        limit = slo_ms

        def good(r: dict[str, Floats]) -> Floats:
            return np.asarray((r["error"] == 0) & (r["latency_ms"] <= limit), dtype=np.float64)

        metrics.append((_Metric(f"goodput (<= {limit:g} ms)", None, "%", _mean, False), good))
    return metrics


def _row(metric: _Metric, base: Floats, cand: Floats, max_regression: float) -> Row:
    if min(len(base), len(cand)) < MIN_SAMPLES:
        b = float(metric.statistic(base)) if len(base) else None
        c = float(metric.statistic(cand)) if len(cand) else None
        return Row(metric.metric, metric.stage, metric.unit, b, c, _change(b, c), None, None, TOO_FEW)
    b = float(metric.statistic(base))
    c = float(metric.statistic(cand))
    low, high = _interval(metric, base, cand)
    verdict = _verdict(metric, b, c, low, high, max_regression)
    return Row(metric.metric, metric.stage, metric.unit, b, c, _change(b, c), low, high, verdict)


def _interval(metric: _Metric, base: Floats, cand: Floats) -> tuple[float, float]:
    """The bootstrap percentile interval of the change ``candidate / baseline - 1``."""
    key = f"{metric.metric}\0{metric.stage or ''}".encode()
    rng = np.random.default_rng([SEED, zlib.crc32(key)])
    base_stats = metric.statistic(base[rng.integers(0, len(base), size=(RESAMPLES, len(base)))])
    cand_stats = metric.statistic(cand[rng.integers(0, len(cand), size=(RESAMPLES, len(cand)))])
    with np.errstate(divide="ignore", invalid="ignore"):
        changes = np.where(base_stats == 0, np.where(cand_stats == 0, 0.0, np.inf), cand_stats / base_stats - 1)
    tail = (1 - CONFIDENCE) / 2
    # No interpolation: an end of the interval is a resampled change, never an average with an infinite one.
    low = float(np.quantile(changes, tail, method="lower"))
    high = float(np.quantile(changes, 1 - tail, method="higher"))
    return low, high


def _change(base: float | None, cand: float | None) -> float | None:
    if base is None or cand is None:
        return None
    if base == 0:
        return 0.0 if cand == 0 else math.inf
    return cand / base - 1


def _verdict(metric: _Metric, base: float, cand: float, low: float, high: float, limit: float) -> str:
    # Orient every metric so that a positive change is worse.
    change = _change(base, cand) or 0.0
    worse, best_case, worst_case = (change, low, high) if metric.higher_is_worse else (-change, -high, -low)
    if best_case > limit:
        return REGRESSION
    if worst_case < -limit:
        return IMPROVEMENT
    return NOISE if abs(worse) > limit else OK


def _requests(profile: Profile) -> dict[str, Floats]:
    requests = profile.samples["requests"]
    return {field: np.asarray(requests[field], dtype=np.float64) for field in REQUEST_FIELDS}


def _stages(profile: Profile) -> dict[str, Floats]:
    return {
        stage: np.asarray(entry["duration_ms"], dtype=np.float64) for stage, entry in profile.samples["stages"].items()
    }
