"""The rate-limit path under load: a Locust burst against a model with a tight requests-per-minute limit.

The agent retries the model's 429s itself and answers 429 "retry" when it gives up: never a 500, and the
locustfile counts it as expected. Every model 429 is one failed ``llm_call`` span (``RateLimitError``); the
service's own access log (uvicorn, ``--log-level info``) is the independent count of both kinds of 429.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from agenttrace.collector import Collector
from tests.e2e.conftest import (
    AgentService,
    locust_counts,
    run_locust,
    server_spans,
    stage_counts,
    stored_spans,
    table_rows,
)

pytestmark = pytest.mark.slow
RUN_ID = "e2e-rate-limit"
# A bucket of 10 model requests refilled at 10 a second: 8 users without waits ask for far more.
LIMITS = {"MODEL_RPM": "600", "MODEL_LIMIT_WINDOW_S": "1", "AGENT_LLM_MAX_RETRIES": "1"}
MODEL_429 = re.compile(r'"POST /v1/chat/completions HTTP/1\.1" 429\b')
AGENT_STATUS = re.compile(r'"POST /api/sessions/[^/ ]+/messages HTTP/1\.1" (\d{3})\b')


def test_a_burst_gets_200_or_429_retry_and_every_model_429_is_a_failed_llm_call(
    collector: Collector, agent_service: Callable[..., AgentService], tmp_path: Path
) -> None:
    service = agent_service("--log-level", "info", "--llm-max-retry-wait-s", "0.5", **LIMITS)
    out = run_locust(service.url, tmp_path, "-u", "8", "-r", "8", "--run-time", "3s", "--agenttrace-run-id", RUN_ID)
    service.stop()
    spans = stored_spans(collector)

    per_name, failures = locust_counts(out)
    assert failures == 0  # a 429 that says "retry" is expected; anything else would be a failure
    servers = server_spans(spans)
    assert sum(per_name.values()) == len(servers)
    statuses = Counter(s["http_status_code"] for s in servers)
    assert set(statuses) == {200, 429}, statuses  # both outcomes happened, and never a 500
    access_log = service.stdout.lines
    assert Counter(int(m[1]) for line in access_log if (m := AGENT_STATUS.search(line))) == Counter(
        s["http_status_code"] for s in servers if s["name"] == "POST /api/sessions/{session_id}/messages"
    )
    model_429s = sum(bool(MODEL_429.search(line)) for line in access_log)
    llm_calls = [s for s in spans if s["stage"] == "llm_call"]
    assert Counter(s["error_type"] for s in llm_calls)["RateLimitError"] == model_429s > statuses[429]
    assert {s["error_type"] for s in llm_calls} == {None, "RateLimitError"}
    # The plugin's llm_call calls (from Server-Timing) count the refused attempts too.
    assert int(table_rows(out)["llm_call"][1]) == stage_counts(spans)["llm_call"] == len(llm_calls)
