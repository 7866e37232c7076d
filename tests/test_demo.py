"""`make demo` works: the whole pipeline end to end, as a subprocess like the Makefile runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_runs_the_pipeline() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTEST_"))}
    env["COLUMNS"] = "200"
    done = subprocess.run(
        [sys.executable, "-m", "examples.demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "24 HTTP requests and 3 queued tickets answered; spans dropped: 0" in out
    assert "│ demo-run │ 27       │ 207   │" in out
    assert "│ llm_call       │ 54    │ 2.0           │" in out
    assert "43848/3456" in out
    assert "Server-Timing: context_load;dur=" in out
    assert "└── POST /tickets/{session_id} server" in out
