"""examples/k6/agent-test.js, scaled down, against the example agent service with the local fake LLM."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.k6.k6run import require_k6, run_k6, script_dir

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "k6" / "agent-test.js"


def test_the_example_runs_and_holds_its_thresholds(tmp_path: Path) -> None:
    require_k6()
    directory = script_dir(tmp_path, "")
    shutil.copyfile(EXAMPLE, directory / "agent-test.js")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTEST_"))}
    argv = [sys.executable, "-m", "tests.k6.example_service"]
    with subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as service:
        assert service.stdin is not None and service.stdout is not None
        try:
            base_url = service.stdout.readline().strip()  # '' if it died: the k6 run then fails on its URL
            done = run_k6(directory, script="agent-test.js", BASE_URL=base_url, SCALE="0.01", THINK_S="0")
        finally:
            service.stdin.close()
            service.wait(timeout=30)
    assert (done.returncode, done.stderr.count("level=error")) == (0, 0), done.stderr

    summary = json.loads((tmp_path / "agenttrace-summary.json").read_text())
    [run_id] = re.findall(r'msg="agenttrace run id: (\S+)"', done.stderr)
    requests = summary["requests"]
    assert requests > 0
    assert (summary["run_id"], summary["http_reqs"]) == (run_id, requests)
    per_request = [(s["stage"], s["count"], s["requests"], s["calls_per_request"]) for s in summary["stages"]]
    assert per_request == [
        ("context_load", requests, requests, 1),
        ("llm_call", 2 * requests, requests, 2),
        ("tool_execution", requests, requests, 1),
    ]
    assert done.stdout.startswith(f"\nagenttrace run {run_id}: {requests} requests with Server-Timing")
