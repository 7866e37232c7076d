"""``python -m examples.agent_service`` as a load test or ``agenttrace demo`` runs it: a real subprocess.

It prints its URLs, serves, and on SIGTERM exits 0 after the spans reached the collector.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from agenttrace.collector import Collector, CollectorConfig
from agenttrace.store import SpanStore

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--model-ttft-s", "0", "--model-per-token-s", "0", "--tool-latency-s", "0", "--db-latency-s", "0"]


def environment(**env: str) -> dict[str, str]:
    result = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTTRACE_", "AGENT_", "MODEL_"))}
    result.pop("PYTEST_VERSION", None)
    result.update({"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]), **env})
    return result


def read_lines(process: subprocess.Popen[str], count: int, timeout: float = 30.0) -> list[str]:
    """The first ``count`` lines of the process's stdout, waiting at most ``timeout`` seconds in all."""
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while len(lines) < count:
            left = deadline - time.monotonic()
            assert left > 0 and selector.select(left), f"no URL lines within {timeout} s: {lines}"
            line = process.stdout.readline()
            assert line, f"the process ended: {process.wait()} {lines}"
            lines.append(line.rstrip("\n"))
    return lines


def test_the_entry_point_prints_its_urls_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    config = CollectorConfig(db=tmp_path / "spans.duckdb", http="127.0.0.1:0", grpc="")
    with Collector(config) as collector:
        env = environment(
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.http_port}",
            OTEL_METRICS_EXPORTER="none",
            OTEL_BSP_SCHEDULE_DELAY="60000",  # nothing is exported before the shutdown flush
            AGENT_DB_POOL_SIZE="2",  # a knob from the environment
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "examples.agent_service", *FAST],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            model_line, agent_line = read_lines(process, 2)
            assert model_line.startswith("model server on http://127.0.0.1:")
            assert agent_line.startswith("agent service on http://127.0.0.1:")
            base_url = agent_line.removeprefix("agent service on ")
            with httpx.Client(base_url=base_url, timeout=30, trust_env=False) as http:
                session_id = http.post("/api/sessions").json()["session_id"]
                answer = http.post(f"/api/sessions/{session_id}/messages", json={"content": "Look up order #12345"})
            assert answer.status_code == 200
            assert answer.json()["tool_calls"][0]["output"]["status"] == "shipped"
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == 0, stderr
        assert stderr == ""
    with SpanStore.open(config.db) as store:
        rows = store.query("SELECT name, service_name FROM spans ORDER BY name")
    assert rows == [
        ("POST /api/sessions", "agent-service"),
        ("POST /api/sessions/{session_id}/messages", "agent-service"),
        ("chat gpt-4o-mini", "agent-service"),
        ("chat gpt-4o-mini", "agent-service"),
        ("context_load", "agent-service"),
        ("execute_tool lookup_order", "agent-service"),
        # FastAPI's own telemetry (it uses the global tracer provider configure() installed), per request
        *[("fastapi.dependencies", "agent-service")] * 2,
        *[("fastapi.endpoint", "agent-service")] * 2,
        *[("fastapi.serialization", "agent-service")] * 2,
        ("memory_save", "agent-service"),
    ]


def test_a_bad_knob_is_one_line_and_exit_status_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "examples.agent_service"],
        cwd=ROOT,
        env=environment(AGENT_DB_POOL_SIZE="many"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines()[-1] == (
        "python -m examples.agent_service: error: AGENT_DB_POOL_SIZE must be an integer, got 'many'"
    )
