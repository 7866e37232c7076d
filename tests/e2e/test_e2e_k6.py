"""k6 (examples/k6/agent-test.js, scaled down) -> the agent service -> the embedded collector: the numbers agree."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from agenttrace import _cli
from agenttrace.collector import Collector
from tests.e2e.conftest import K6_SCRIPT, STAGES, AgentService, server_spans, stage_counts, stored_spans
from tests.k6.k6run import require_k6, run_k6

pytestmark = pytest.mark.slow
RUN_ID = "e2e-k6"


def test_the_k6_summary_and_the_store_agree(
    collector: Collector, agent_service: Callable[..., AgentService], tmp_path: Path
) -> None:
    require_k6()
    assert _cli.main(["k6", "copy", str(tmp_path)]) == 0  # `agenttrace k6 copy DIR`, in this process
    shutil.copyfile(K6_SCRIPT, tmp_path / "agent-test.js")
    service = agent_service()
    # SCALE 0.015: the ramp 10 -> 50 -> 100 -> 0 becomes 1 -> 1 -> 2 -> 0 VUs over 3.6 s.
    done = run_k6(
        tmp_path, script="agent-test.js", BASE_URL=service.url, SCALE="0.015", THINK_S="0", AGENTTRACE_RUN_ID=RUN_ID
    )
    service.stop()
    assert (done.returncode, done.stderr.count("level=error")) == (0, 0), done.stderr  # thresholds held
    summary = json.loads((tmp_path / "agenttrace-summary.json").read_text())
    spans = stored_spans(collector)

    assert {s["run_id"] for s in spans} == {RUN_ID}
    assert {s["scenario"] for s in spans} == {"agent"}  # the k6 scenario
    servers = server_spans(spans)
    assert Counter(s["http_status_code"] for s in servers) == {200: len(servers)}
    assert (summary["run_id"], summary["http_reqs"], summary["requests"]) == (RUN_ID, len(servers), len(servers))
    stored = stage_counts(spans)
    assert {s["stage"]: s["count"] for s in summary["stages"]} == {stage: stored[stage] for stage in STAGES}
    assert summary["llm_calls"] == stored["llm_call"] and summary["tool_calls"] == stored["tool_call"]
