"""Locust (examples/locustfile.py) -> the agent service -> the embedded collector: the numbers agree.

What Locust counted per request name, what the agenttrace plugin printed and wrote per stage, and what the
service stored for the run are the same requests and the same stage calls.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agenttrace.collector import Collector
from tests.e2e.conftest import AgentService, assert_locust_run_matches_the_store, run_locust, stored_spans

pytestmark = pytest.mark.slow


def test_a_local_run_and_the_store_agree(
    collector: Collector, agent_service: Callable[..., AgentService], tmp_path: Path
) -> None:
    service = agent_service()
    out = run_locust(service.url, tmp_path, "--agenttrace-run-id", "e2e-local")
    service.stop()
    assert "agenttrace run id: e2e-local" in out
    assert_locust_run_matches_the_store(out, tmp_path, stored_spans(collector), "e2e-local")


def test_two_worker_processes_merge_on_the_master_and_the_store_agrees(
    collector: Collector, agent_service: Callable[..., AgentService], tmp_path: Path
) -> None:
    service = agent_service()
    out = run_locust(service.url, tmp_path, "--processes", "2", "--agenttrace-run-id", "e2e-distributed")
    service.stop()
    spans = stored_spans(collector)
    assert_locust_run_matches_the_store(out, tmp_path, spans, "e2e-distributed")
    users = {s["virtual_user"] for s in spans}
    assert {u.rsplit("-", 1)[0] for u in users} == {"u-0", "u-1"}  # both workers' users, merged on the master
