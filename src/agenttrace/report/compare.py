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
of the same build thus pass, while one stage 30% slower fails given a few hundred calls of it. A metric with fewer
than ``MIN_SAMPLES`` values in either run is not judged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from agenttrace.report import bootstrap
from agenttrace.report.bootstrap import Counts, Floats
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


@dataclass(frozen=True)
class LatencySlo:
    """A latency objective (``latency<2s``, the syntax of ``agenttrace report --slo``).

    A request meets it when it neither failed nor was rate limited and took less than (``<=``: at most)
    ``threshold_ms``.
    """

    text: str
    threshold_ms: float
    inclusive: bool


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
    statistic: Callable[[Floats, Counts], Floats]  # (values, resample counts) -> one value per resample
    higher_is_worse: bool


@dataclass(frozen=True)
class _Sample:
    """Values and, when there are enough of them to judge, their bootstrap resamples (as counts)."""

    values: Floats
    resamples: Counts | None

    @classmethod
    def of(cls, values: Floats, *names: str) -> _Sample:
        if len(values) < MIN_SAMPLES:
            return cls(values, None)
        return cls(values, bootstrap.resample_counts(bootstrap.generator(SEED, *names), len(values), RESAMPLES))

    def value(self, metric: _Metric) -> float | None:
        return (
            float(metric.statistic(self.values, bootstrap.original(len(self.values)))[0]) if len(self.values) else None
        )


def _p95(values: Floats, counts: Counts) -> Floats:
    return bootstrap.percentile(values, counts, PERCENTILE)


def compare(
    baseline: Profile, candidate: Profile, max_regression: float = DEFAULT_MAX_REGRESSION, slo: LatencySlo | None = None
) -> Comparison:
    """Compare two runs metric by metric (the rule: module docstring).

    Args:
        baseline: The reference run.
        candidate: The run under test.
        max_regression: Largest tolerated change, as a fraction (0.05 is 5%).
        slo: Also compare goodput: the share of requests meeting this objective.

    Example:
        >>> result = compare(Profile("main", report_a["samples"]), Profile("pr", report_b["samples"]))  # doctest: +SKIP
        >>> [(row.metric, row.stage) for row in result.regressions]  # doctest: +SKIP
        [('stage p95', 'llm_call')]
    """
    rows: list[Row] = []
    base_requests, cand_requests = _requests(baseline), _requests(candidate)
    # Requests are resampled as units: every request metric of one resample comes from the same requests.
    base_counts = _Sample.of(base_requests["latency_ms"], "requests", "baseline").resamples
    cand_counts = _Sample.of(cand_requests["latency_ms"], "requests", "candidate").resamples
    for metric, values in _request_metrics(slo):
        base = _Sample(values(base_requests), base_counts)
        cand = _Sample(values(cand_requests), cand_counts)
        rows.append(_row(metric, base, cand, max_regression))
    base_stages, cand_stages = _stages(baseline), _stages(candidate)
    for stage in sorted(base_stages.keys() | cand_stages.keys()):
        metric = _Metric("stage p95", stage, "ms", _p95, higher_is_worse=True)
        if stage not in cand_stages or stage not in base_stages:
            alone = _Sample(base_stages.get(stage, cand_stages.get(stage, np.zeros(0))), None)
            base_value, cand_value = (
                (alone.value(metric), None) if stage in base_stages else (None, alone.value(metric))
            )
            verdict = ONLY_BASELINE if stage in base_stages else ONLY_CANDIDATE
            rows.append(Row(metric.metric, stage, metric.unit, base_value, cand_value, None, None, None, verdict))
            continue
        base = _Sample.of(base_stages[stage], "stage", stage, "baseline")
        cand = _Sample.of(cand_stages[stage], "stage", stage, "candidate")
        rows.append(_row(metric, base, cand, max_regression))
    return Comparison(baseline.label, candidate.label, max_regression, rows)


def _request_metrics(slo: LatencySlo | None) -> list[tuple[_Metric, Callable[[dict[str, Floats]], Floats]]]:
    mean = bootstrap.mean
    metrics: list[tuple[_Metric, Callable[[dict[str, Floats]], Floats]]] = [
        (_Metric("request p95", None, "ms", _p95, True), lambda r: r["latency_ms"]),
        (_Metric("error rate", None, "%", mean, True), lambda r: r["error"]),
        (_Metric("LLM calls/request", None, "", mean, True), lambda r: r["llm_calls"]),
        (_Metric("tool calls/request", None, "", mean, True), lambda r: r["tool_calls"]),
        (_Metric("input tokens/request", None, "", mean, True), lambda r: r["input_tokens"]),
        (_Metric("output tokens/request", None, "", mean, True), lambda r: r["output_tokens"]),
    ]
    if slo is not None:
        objective = slo

        def good(r: dict[str, Floats]) -> Floats:
            latency = r["latency_ms"]
            fast = latency <= objective.threshold_ms if objective.inclusive else latency < objective.threshold_ms
            return np.asarray((r["error"] == 0) & (r["rate_limited"] == 0) & fast, dtype=np.float64)

        metrics.append((_Metric(f"goodput ({slo.text})", None, "%", mean, False), good))
    return metrics


def _row(metric: _Metric, base: _Sample, cand: _Sample, max_regression: float) -> Row:
    b, c = base.value(metric), cand.value(metric)
    change = _change(b, c)
    if b is None or c is None or base.resamples is None or cand.resamples is None:
        return Row(metric.metric, metric.stage, metric.unit, b, c, change, None, None, TOO_FEW)
    low, high = bootstrap.change_interval(
        metric.statistic(base.values, base.resamples), metric.statistic(cand.values, cand.resamples), CONFIDENCE
    )
    verdict = _verdict(metric.higher_is_worse, change or 0.0, low, high, max_regression)
    return Row(metric.metric, metric.stage, metric.unit, b, c, change, low, high, verdict)


def _change(base: float | None, cand: float | None) -> float | None:
    if base is None or cand is None:
        return None
    if base == 0:
        return 0.0 if cand == 0 else math.inf
    return cand / base - 1


def _verdict(higher_is_worse: bool, change: float, low: float, high: float, limit: float) -> str:
    # Orient every metric so that a positive change is worse.
    worse, best_case, worst_case = (change, low, high) if higher_is_worse else (-change, -high, -low)
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
