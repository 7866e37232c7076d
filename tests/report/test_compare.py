from __future__ import annotations

import pytest

from agenttrace.report.compare import (
    IMPROVEMENT,
    MIN_SAMPLES,
    NOISE,
    OK,
    ONLY_BASELINE,
    ONLY_CANDIDATE,
    REGRESSION,
    TOO_FEW,
    Comparison,
    LatencySlo,
    Profile,
    compare,
)
from agenttrace.report.compare_input import profile_from_store
from agenttrace.report.compare_render import verdict_line
from agenttrace.store import SpanStore
from tests.report.compare_runs import write_run

REQUESTS = 2000
SLO = LatencySlo("latency<2.5s", 2500, inclusive=False)
RUNS = {
    "base": {"seed": 1},
    "same": {"seed": 2},  # the same build, run again
    "slow-search": {"seed": 3, "slower": {"search": 1.3}},
    "slow-llm": {"seed": 4, "slower": {"llm_call": 1.3}},
    "errors": {"seed": 5, "error_rate": 0.05},
    "tokens": {"seed": 6, "output_tokens": 450},
}


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Profile]:
    db = tmp_path_factory.mktemp("compare") / "runs.duckdb"
    for run_id, options in RUNS.items():
        write_run(db, run_id, requests=REQUESTS, **options)  # type: ignore[arg-type]
    with SpanStore.open(db) as store:
        return {run_id: profile_from_store(store, run_id) for run_id in RUNS}


def regressed(comparison: Comparison) -> list[tuple[str, str | None]]:
    return [(row.metric, row.stage) for row in comparison.regressions]


def test_two_runs_of_the_same_build_pass(profiles: dict[str, Profile]) -> None:
    result = compare(profiles["base"], profiles["same"], slo=SLO)
    assert regressed(result) == []
    assert {row.verdict for row in result.rows} <= {OK, NOISE}
    assert [(row.metric, row.stage) for row in result.rows] == [
        ("request p95", None),
        ("error rate", None),
        ("LLM calls/request", None),
        ("tool calls/request", None),
        ("input tokens/request", None),
        ("output tokens/request", None),
        ("goodput (latency<2.5s)", None),
        ("stage p95", "llm_call"),
        ("stage p95", "load_context"),
        ("stage p95", "search"),
    ]
    assert verdict_line(result) == "PASS: no metric worse by more than 5% beyond run-to-run noise (10 compared)"


def test_one_stage_30_percent_slower_fails_naming_that_stage(profiles: dict[str, Profile]) -> None:
    result = compare(profiles["base"], profiles["slow-search"])
    assert regressed(result) == [("stage p95", "search")]
    (row,) = result.regressions
    assert row.change is not None and row.ci_low is not None and row.ci_high is not None
    assert 0.05 < row.ci_low < row.change < row.ci_high
    line = verdict_line(result)
    assert line.startswith("FAIL: 1 worse by more than 5% beyond noise: stage search p95 +")


def test_the_same_change_is_an_improvement_the_other_way(profiles: dict[str, Profile]) -> None:
    result = compare(profiles["slow-search"], profiles["base"])
    assert regressed(result) == []
    assert [row.stage for row in result.rows if row.verdict == IMPROVEMENT] == ["search"]


def test_a_larger_limit_tolerates_the_slower_stage(profiles: dict[str, Profile]) -> None:
    assert regressed(compare(profiles["base"], profiles["slow-search"], max_regression=0.5)) == []


def test_slower_llm_calls_fail_request_latency_stage_and_goodput(profiles: dict[str, Profile]) -> None:
    result = compare(profiles["base"], profiles["slow-llm"], slo=SLO)
    assert regressed(result) == [("request p95", None), ("goodput (latency<2.5s)", None), ("stage p95", "llm_call")]


def test_error_rate_regression(profiles: dict[str, Profile]) -> None:
    result = compare(profiles["base"], profiles["errors"])
    assert regressed(result) == [("error rate", None)]
    (row,) = result.regressions
    assert (row.baseline, row.change, row.ci_low) == (0.0, float("inf"), float("inf"))
    assert row.candidate == pytest.approx(0.05, abs=0.015)
    assert verdict_line(result) == "FAIL: 1 worse by more than 5% beyond noise: error rate +inf (CI +inf .. +inf)"


def test_token_regression(profiles: dict[str, Profile]) -> None:
    result = compare(profiles["base"], profiles["tokens"])
    assert regressed(result) == [("output tokens/request", None)]
    (row,) = result.regressions
    assert row.change == pytest.approx(0.5, abs=0.05)


def test_comparison_is_deterministic(profiles: dict[str, Profile]) -> None:
    assert compare(profiles["base"], profiles["same"]) == compare(profiles["base"], profiles["same"])


def constant(latency: float, n: int, stages: dict[str, list[float]]) -> Profile:
    return Profile(
        f"run-{latency:g}",
        {
            "cap": 2000,
            "requests": {
                "total": n,
                "latency_ms": [latency] * n,
                "error": [0] * n,
                "rate_limited": [0] * n,
                "llm_calls": [2] * n,
                "tool_calls": [0] * n,
                "input_tokens": [10] * n,
                "output_tokens": [5] * n,
            },
            "stages": {stage: {"total": len(values), "duration_ms": values} for stage, values in stages.items()},
        },
    )


def test_too_few_samples_and_stages_in_one_run_only_are_not_judged() -> None:
    few = [100.0] * (MIN_SAMPLES - 1)
    enough = [100.0] * MIN_SAMPLES
    base = constant(100, MIN_SAMPLES, {"few": few, "gone": enough, "kept": enough})
    cand = constant(200, MIN_SAMPLES, {"few": [v * 2 for v in few], "kept": [v * 2 for v in enough], "new": enough})
    result = compare(base, cand)
    rows = {(row.metric, row.stage): row for row in result.rows}
    assert rows[("stage p95", "few")].verdict == TOO_FEW
    assert rows[("stage p95", "few")].change == 1.0
    assert (rows[("stage p95", "gone")].verdict, rows[("stage p95", "gone")].baseline) == (ONLY_BASELINE, 100.0)
    assert (rows[("stage p95", "new")].verdict, rows[("stage p95", "new")].candidate) == (ONLY_CANDIDATE, 100.0)
    # Constant samples: every resample gives the same change, so the interval is that change exactly.
    kept = rows[("stage p95", "kept")]
    assert (kept.change, kept.ci_low, kept.ci_high, kept.verdict) == (1.0, 1.0, 1.0, REGRESSION)
    assert regressed(result) == [("request p95", None), ("stage p95", "kept")]
