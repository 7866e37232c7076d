from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agenttrace._cli import main
from agenttrace.report.compare_input import profile_from_store
from agenttrace.store import SpanStore
from tests.report.compare_runs import write_run

Output = tuple[int, str, str]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "runs.duckdb"
    write_run(path, "base", seed=1, requests=2000)
    write_run(path, "same", seed=2, requests=2000)
    write_run(path, "slow", seed=3, requests=2000, slower={"search": 1.3})
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Output:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def report_file(path: Path, run_id: str, samples: dict[str, Any], **extra: Any) -> Path:
    path.write_text(json.dumps({"schema_version": 1, "run_id": run_id, "samples": samples, **extra}))
    return path


def constant_samples(latency: float, stage_ms: float, n: int = 20) -> dict[str, Any]:
    return {
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
        "stages": {"llm_call": {"total": n, "duration_ms": [stage_ms] * n}},
    }


def test_same_build_passes_and_slower_stage_fails_by_run_id(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "compare", "base", "same", "--db", str(db))
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "PASS: no metric worse by more than 5% beyond run-to-run noise (9 compared)"
    code, out, err = run(capsys, "compare", "base", "slow", "--db", str(db))
    assert (code, err) == (1, "")
    assert out.splitlines()[-1].startswith("FAIL: 1 worse by more than 5% beyond noise: stage search p95 +")
    search = [line for line in out.splitlines() if "stage search p95" in line and "regression" in line]
    assert len(search) == 1, out


def test_json_report_inputs_and_json_output(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with SpanStore.open(db) as store:
        files = {
            run_id: report_file(tmp_path / f"{run_id}.json", run_id, profile_from_store(store, run_id).samples)
            for run_id in ("base", "same", "slow")
        }
    assert run(capsys, "compare", str(files["base"]), str(files["same"]))[0] == 0
    code, out, err = run(capsys, "compare", str(files["base"]), str(files["slow"]), "--format", "json")
    assert (code, err) == (1, "")
    document = json.loads(out)
    assert (document["baseline"], document["candidate"], document["passed"]) == ("base", "slow", False)
    assert [(row["metric"], row["stage"]) for row in document["rows"] if row["verdict"] == "regression"] == [
        ("stage p95", "search")
    ]
    # A JSON report against a run id in the store gives the same verdict.
    code, out, _ = run(capsys, "compare", str(files["base"]), "slow", "--db", str(db), "--format", "json")
    assert code == 1
    assert json.loads(out)["verdict"] == document["verdict"]


def test_markdown_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Constant samples: every resample gives the same change, so the whole output is exact.
    base = report_file(tmp_path / "a.json", "main-1234", constant_samples(100, 50))
    cand = report_file(tmp_path / "b.json", "pr|42", constant_samples(130, 65))
    code, out, err = run(capsys, "compare", str(base), str(cand), "--format", "markdown", "--max-regression", "10%")
    assert (code, err) == (1, "")
    assert out == (
        "### agenttrace compare: `main-1234` → `pr\\|42`\n"
        "\n"
        "| metric | baseline | candidate | change | 95% CI of change | verdict |\n"
        "| --- | ---: | ---: | ---: | ---: | --- |\n"
        "| request p95 | 100.0 ms | 130.0 ms | +30.0% | +30.0% .. +30.0% | **regression** |\n"
        "| error rate | 0.00% | 0.00% | +0.0% | +0.0% .. +0.0% | ok |\n"
        "| LLM calls/request | 2.00 | 2.00 | +0.0% | +0.0% .. +0.0% | ok |\n"
        "| tool calls/request | 0.00 | 0.00 | +0.0% | +0.0% .. +0.0% | ok |\n"
        "| input tokens/request | 10.00 | 10.00 | +0.0% | +0.0% .. +0.0% | ok |\n"
        "| output tokens/request | 5.00 | 5.00 | +0.0% | +0.0% .. +0.0% | ok |\n"
        "| stage `llm_call` p95 | 50.0 ms | 65.0 ms | +30.0% | +30.0% .. +30.0% | **regression** |\n"
        "\n"
        "**FAIL: 2 worse by more than 10% beyond noise: request p95 +30.0% (CI +30.0% .. +30.0%); "
        "stage llm_call p95 +30.0% (CI +30.0% .. +30.0%)**\n"
        "\n"
        "<sub>Regression: the whole 95% bootstrap interval (1000 resamples) of the change is past 10%.</sub>\n"
    )
    assert run(capsys, "compare", str(base), str(cand), "--max-regression", "31")[0] == 0


def test_goodput_with_an_slo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = report_file(tmp_path / "a.json", "a", constant_samples(100, 50))
    cand = report_file(tmp_path / "b.json", "b", constant_samples(130, 50))
    code, out, _ = run(capsys, "compare", str(base), str(cand), "--slo", "latency<=0.12s", "--format", "markdown")
    assert code == 1
    assert "| goodput (latency<=0.12s) | 100.00% | 0.00% | -100.0% | -100.0% .. -100.0% | **regression** |\n" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "{",
            "{path} is not a JSON report: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        ("[1]", "{path} is not a JSON report: the top level is not an object"),
        ('{"schema_version": 2}', "{path} is a report of schema version 2; this agenttrace reads version 1"),
        ('{"schema_version": 1}', "{path} has no samples to compare"),
        (
            '{"schema_version": 1, "samples": {"requests": {"latency_ms": "fast"}}}',
            "{path}: samples.requests.latency_ms is not a list of numbers",
        ),
        (
            json.dumps({"schema_version": 1, "samples": {**constant_samples(1, 1), "stages": {"x": {}}}}),
            "{path}: samples.stages.x.duration_ms is not a list of numbers",
        ),
    ],
)
def test_unusable_report_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    good = report_file(tmp_path / "good.json", "good", constant_samples(1, 1))
    assert run(capsys, "compare", str(good), str(bad)) == (2, "", f"agenttrace: error: {message.format(path=bad)}\n")


def test_missing_inputs_are_one_line_and_exit_2(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.json"
    assert run(capsys, "compare", str(missing), "base", "--db", str(db)) == (
        2,
        "",
        f"agenttrace: error: cannot read {missing}: No such file or directory\n",
    )
    assert run(capsys, "compare", "base", "nope", "--db", str(db)) == (
        2,
        "",
        f"agenttrace: error: no run 'nope' in {db} (agenttrace runs lists them)\n",
    )
    absent = tmp_path / "absent.duckdb"
    assert run(capsys, "compare", "base", "same", "--db", str(absent)) == (
        2,
        "",
        f"agenttrace: error: no span store at {absent}\n",
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--max-regression", "abc"], "argument --max-regression: not a percentage: 'abc' (say 5%)"),
        (["--slo", "ttfb<1s"], "argument --slo: not a latency SLO: 'ttfb<1s' (say latency<2s or latency<=500ms)"),
        (["--format", "html"], "argument --format: invalid choice: 'html' (choose from 'table', 'markdown', 'json')"),
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], option: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["compare", "a", "b", *option])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"agenttrace compare: error: {message}"
