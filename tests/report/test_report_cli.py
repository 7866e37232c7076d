"""``agenttrace report`` on a stopped store and while a real collector process holds it."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from agenttrace._cli import main
from tests.collector.conftest import PYTHON, start_collector_process
from tests.report.conftest import RUN_A, export_request

EXPECTED_HEAD = [
    "Run run-a: 4 requests in 6 s (0.67/s)",
    "Errors 1 (25.0%), rate limited (429) 1",
    "Concurrency: mean 1.08, max 2",
    "Goodput latency<2s: 1 of 4 requests (25.0%), 0.17/s",
    "Bottleneck: none: no saturation analysis in this install",
]


def _report(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "agenttrace", "report", *args], capture_output=True, text=True, timeout=120)


def _without_saturation(data: dict[str, object]) -> dict[str, object]:
    # generated_at and source differ between the two ways of reading; the rest must not.
    return {k: v for k, v in data.items() if k not in ("generated_at", "source")}


def test_table(run_a_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--db", str(run_a_db), "--slo", "latency<2s", "--width", "120"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:5] == EXPECTED_HEAD
    assert out[6:11] == [
        "Scenarios",
        "┏━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━━━┳━━━━━━━━┳━━━━━━━━┳━━━━━━━━━━━━━┳━━━━━━━━━━━━━┳━━━━━━━━┳━━━━━━┓",
        "┃ scenario ┃ requests ┃ p50 ms ┃ p95 ms ┃ p99 ms ┃ ttfb p50 ms ┃ ttfb p95 ms ┃ errors ┃ 429s ┃",
        "┡━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━━━╇━━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━┩",
        "│ chat     │        2 │  1,500 │  1,950 │  1,990 │         600 │         960 │      0 │    0 │",
    ]
    assert "│ 00000000000000000000000000000004 │ search   │ /search │ ValueError │ 3,000 │    500 │" in out


def test_markdown_and_json_files(run_a_db: Path, tmp_path: Path) -> None:
    md, js = tmp_path / "r.md", tmp_path / "r.json"
    assert main(["report", "--db", str(run_a_db), "--format", "markdown", "--out", str(md)]) == 0
    lines = md.read_text().splitlines()
    assert lines[:3] == ["## agenttrace report: run-a", "", "- Run run-a: 4 requests in 6 s (0.67/s)"]
    assert "| llm_call | 1.25 | 1.5 | 2 | 300 | 860 | 972 | 860 | 950 | 29.2% | 162.5 | 16.2 | 0 | 1 |" in lines
    args = ["report", "--db", str(run_a_db), "--format", "json", "--out", str(js), "--jaeger-ui", "http://j:16686"]
    assert main(args) == 0
    data = json.loads(js.read_text())
    assert (data["schema_version"], data["run_id"], data["requests"], data["error_rate"]) == (1, "run-a", 4, 0.25)
    assert data["bottleneck"] == {"kind": "none", "stage": None, "reason": "no saturation analysis in this install"}
    assert [s["stage"] for s in data["stages"]] == ["agent", "tool", "llm_call"]
    assert data["failed"][0]["url"] == "http://j:16686/trace/00000000000000000000000000000004"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--run", "nope"], "agenttrace: error: no requests of the run 'nope' in the span store ({db})\n"),
        (["--slo", "cpu<1s"], "agenttrace: error: bad SLO 'cpu<1s': expected METRIC<VALUE with METRIC one of "
         "latency, ttfb and VALUE in ms or s, e.g. latency<2s or ttfb<=500ms\n"),
        (["--out", "/nonexistent/dir/r.txt"], "agenttrace: error: cannot write /nonexistent/dir/r.txt: "
         "No such file or directory\n"),
    ],
)  # fmt: skip
def test_expected_failures(run_a_db: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--db", str(run_a_db), *args]) == 1
    assert capsys.readouterr() == ("", message.format(db=run_a_db))


def test_missing_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--db", str(tmp_path / "none.duckdb")]) == 1
    assert capsys.readouterr().err == f"agenttrace: error: no span store at {tmp_path / 'none.duckdb'}\n"


def test_while_the_collector_runs(tmp_path: Path, run_a_db: Path) -> None:
    db = tmp_path / "live.duckdb"
    process, port = start_collector_process(db, "--load-interval", "3600")
    try:
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/traces",
            content=export_request(RUN_A),
            headers={"content-type": "application/x-protobuf"},
        )
        assert response.status_code == 200
        # The spans wait in the log (--load-interval 3600): the report's read loads them first.
        live = _report("--db", str(db), "--format", "json", "--slo", "ttfb<500ms")
        assert (live.returncode, live.stderr) == (0, "")
        table = _report("--db", str(db), "--slo", "latency<2s", "--width", "120")
        assert (table.returncode, table.stderr) == (0, "")
        assert table.stdout.splitlines()[:5] == EXPECTED_HEAD
        missing = _report("--db", str(db), "--run", "nope")
        assert (missing.returncode, missing.stdout) == (1, "")
        assert missing.stderr == "agenttrace: error: no requests of the run 'nope' in the span store\n"
        bad = httpx.get(f"http://127.0.0.1:{port}/api/v1/report", params={"slo": "x"})
        assert (bad.status_code, bad.json()["message"][:12]) == (400, "bad SLO 'x':")
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert process.returncode == 0
    stopped = _report("--db", str(db), "--format", "json", "--slo", "ttfb<500ms")
    assert (stopped.returncode, stopped.stderr) == (0, "")
    assert _without_saturation(json.loads(live.stdout)) == _without_saturation(json.loads(stopped.stdout))
    assert json.loads(live.stdout)["goodput"] == [{"slo": "ttfb<500ms", "met": 1, "share": 0.25, "per_s": 1 / 6}]
