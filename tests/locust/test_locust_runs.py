"""Real Locust runs (subprocesses) against a real uvicorn app with AgentTraceMiddleware on 127.0.0.1."""

from __future__ import annotations

import csv
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agenttrace.testing import Capture
from examples.serving import serve
from tests.conftest import free_port
from tests.locust.app import create_app

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
LOCUSTFILE = HERE / "locustfile_agent.py"
DRAIN_WORKERS = ROOT / "tests" / "e2e" / "drain_workers.py"
TIMEOUT_S = 90


@pytest.fixture
def server(agenttrace_capture: Capture) -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    with serve(create_app(seen)) as base_url:
        yield base_url, seen


def run_locust(
    host: str, tmp_path: Path, *args: str, env: dict[str, str] | None = None, distributed: bool = False
) -> str:
    """A headless Locust run; its output (Locust logs its summary to stderr, agenttrace prints to stdout).

    ``distributed``: two worker processes on a master port of our own (the default 5557 would meet any other
    distributed run on this machine), ended by ``tests/e2e/drain_workers.py`` so that the master gets every
    worker's last report (``--run-time`` waits only 0.5 s for them: locustio/locust#1426).
    """
    command = [sys.executable, "-m", "locust", "--headless", "-u", "4", "-r", "4", "--host", host, "--only-summary"]
    # --stop-timeout: users finish the request in flight at the end, so Locust counts every request the server saw
    command += ["--stop-timeout", "10", "--csv", str(tmp_path / "run")]
    if distributed:
        port = str(free_port())
        command += ["-f", f"{LOCUSTFILE},{DRAIN_WORKERS}", "--master-bind-host", "127.0.0.1"]
        command += ["--master-bind-port", port, "--master-host", "127.0.0.1", "--master-port", port]
    else:
        command += ["-f", str(LOCUSTFILE), "--run-time", "3s"]
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]), "E2E_RUN_S": "3"}
    done = subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=TIMEOUT_S, env={**environ, **(env or {})},
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr  # 1: Locust's exit code when a request failed
    assert "agenttrace internal error" not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "no report after stopping" not in done.stderr, done.stderr
    return done.stderr + done.stdout


def locust_request_count(stdout: str) -> tuple[int, int]:
    """Requests and failures in Locust's own final summary (its CSV is a snapshot up to a second old)."""
    found = re.search(r"^\s+Aggregated\s+(\d+)\s+(\d+)\(", stdout, re.M)
    assert found is not None, stdout
    return int(found.group(1)), int(found.group(2))


def read_csv(path: Path) -> list[list[str]]:
    with path.open() as f:
        return list(csv.reader(f))


def table_rows(stdout: str) -> dict[str, list[str]]:
    """The agenttrace table's rows: stage -> [requests, calls, calls/req, avg, p50, p95, p99]."""
    block = stdout.split("agenttrace stages (", 1)[1].split("\n-", 2)[1]
    rows = [line.split() for line in block.splitlines()[1:] if line.strip()]
    return {row[0]: row[1:] for row in rows}


def server_spans(cap: Capture, count: int) -> list[dict[str, object]]:
    spans = [dict(s.attributes or {}) for s in cap.finished_spans() if s.kind.name == "SERVER"]
    assert len(spans) == count
    return spans


@pytest.mark.parametrize("user_class", ["FastAgent", "HttpAgent"])
def test_local_run_table_csv_and_propagation(
    server: tuple[str, list[dict[str, str]]], agenttrace_capture: Capture, tmp_path: Path, user_class: str
) -> None:
    host, seen = server
    out = run_locust(host, tmp_path, "--agenttrace-run-id", "run-42", user_class)

    requests, failures = locust_request_count(out)
    assert requests == len(seen) > 0 and failures == 0
    n = str(requests)
    assert f"agenttrace stages ({requests} requests with Server-Timing)" in out
    rows = table_rows(out)
    assert list(rows) == ["context_load", "llm_call", "tool_execution", "total"]
    assert [rows[name][:3] for name in rows] == [
        [n, n, "1.00"],
        [n, str(2 * requests), "2.00"],
        [n, n, "1.00"],
        [n, n, "1.00"],
    ]
    assert "per request: LLM calls 2.00, tool calls 1.00, input tokens 200.0, output tokens 40.0" in out
    assert "agenttrace run id: run-42" in out

    stages = read_csv(tmp_path / "run_agenttrace_stages.csv")
    assert stages[0] == [
        "Stage",
        "Requests",
        "Calls",
        "Calls/request",
        "Average (ms)",
        "p50 (ms)",
        "p95 (ms)",
        "p99 (ms)",
    ]
    assert [row[:4] for row in stages[1:]] == [
        ["context_load", n, n, "1.0000"],
        ["llm_call", n, str(2 * requests), "2.0000"],
        ["tool_execution", n, n, "1.0000"],
        ["total", n, n, "1.0000"],
    ]
    costs = read_csv(tmp_path / "run_agenttrace_costs.csv")
    assert costs[1] == [n, str(2 * requests), n, str(200 * requests), str(40 * requests)] + [
        "2.0000",
        "1.0000",
        "200.0000",
        "40.0000",
    ]

    # Every request carried one traceparent and the run identity; the server joined the trace and kept it.
    assert {h["traceparent_count"] for h in seen} == {"1"}
    spans = server_spans(agenttrace_capture, requests)
    assert {s["agenttrace.run_id"] for s in spans} == {"run-42"}
    assert {s["agenttrace.scenario"] for s in spans} == {"ask"}
    users = {str(s["agenttrace.user"]) for s in spans}
    assert users == {"u-1", "u-2", "u-3", "u-4"}
    trace_ids = {h["traceparent"][3:35] for h in seen}
    slowest = re.findall(r"^\s+\d+ ms  ask  ([0-9a-f]{32})$", out, re.M)
    assert len(slowest) == 10 and set(slowest) <= trace_ids


def test_two_processes_merge_on_the_master(
    server: tuple[str, list[dict[str, str]]], agenttrace_capture: Capture, tmp_path: Path
) -> None:
    host, seen = server
    out = run_locust(host, tmp_path, "--processes", "2", "HttpAgent", distributed=True)

    requests, failures = locust_request_count(out)
    assert requests == len(seen) > 0 and failures == 0
    n = str(requests)
    assert f"agenttrace stages ({requests} requests with Server-Timing)" in out
    rows = table_rows(out)
    assert rows["llm_call"][:3] == [n, str(2 * requests), "2.00"]
    assert rows["total"][:3] == [n, n, "1.00"]
    (run_id,) = re.findall(r"^agenttrace run id: ([0-9a-f]{12})$", out, re.M)
    spans = server_spans(agenttrace_capture, requests)
    assert {s["agenttrace.run_id"] for s in spans} == {run_id}  # the master's id, copied to both workers
    users = {str(s["agenttrace.user"]) for s in spans}
    assert all(re.fullmatch(r"u-\d+-\d+", u) for u in users), users  # every user named by its worker
    # Users on both workers. Locust numbers a worker again when it reconnects after a missed heartbeat
    # (this machine is shared), so there are two worker indexes or, rarely, more, never one.
    assert len({u.rsplit("-", 1)[0] for u in users}) >= 2, users
    stages = read_csv(tmp_path / "run_agenttrace_stages.csv")
    assert stages[2][:4] == ["llm_call", n, str(2 * requests), "2.0000"]


def test_failed_requests_are_listed_as_jaeger_links(
    server: tuple[str, list[dict[str, str]]], agenttrace_capture: Capture, tmp_path: Path
) -> None:
    host, seen = server
    out = run_locust(host, tmp_path, "--agenttrace-jaeger-url", "http://127.0.0.1:16686/", "FailingAgent")

    requests, failures = locust_request_count(out)
    assert requests == failures == len(seen) > 0
    assert f"agenttrace failed requests ({failures}, first 10 shown):" in out
    links = re.findall(
        r"^\s+\d+ ms  /broken  http://127\.0\.0\.1:16686/trace/([0-9a-f]{32})  LocustBadStatusCode", out, re.M
    )
    assert len(links) == 10
    server_traces = {f"{s.context.trace_id:032x}" for s in agenttrace_capture.finished_spans() if s.context}
    assert set(links) <= server_traces
    assert "agenttrace slowest requests" not in out


def test_without_the_locust_extra_one_clear_line() -> None:
    code = "import sys; sys.modules['locust'] = None; import agenttrace.locust"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "ImportError: agenttrace.locust needs Locust: pip install 'agenttrace[locust]'"
    )


def test_the_users_own_traceparent_and_baggage_are_kept(
    server: tuple[str, list[dict[str, str]]], agenttrace_capture: Capture, tmp_path: Path
) -> None:
    host, seen = server
    out = run_locust(host, tmp_path, "--agenttrace-run-id", "run-7", "-u", "1", "OwnHeadersAgent")
    requests, _ = locust_request_count(out)
    assert requests == len(seen) > 0
    assert {h["traceparent"] for h in seen} == {"00-0123456789abcdef0123456789abcdef-0123456789abcdef-01"}
    assert {h["traceparent_count"] for h in seen} == {"1"}
    assert {h["baggage"] for h in seen} == {
        "tenant=acme,agenttrace.run_id=run-7,agenttrace.scenario=own,agenttrace.user=u-1"
    }


def test_with_locusts_otel_on_one_traceparent(
    server: tuple[str, list[dict[str, str]]], agenttrace_capture: Capture, tmp_path: Path
) -> None:
    host, seen = server
    otel = {"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}
    out = run_locust(host, tmp_path, "--otel", "-u", "2", "HttpAgent", env=otel)
    requests, failures = locust_request_count(out)
    assert requests == len(seen) > 0 and failures == 0
    assert "OpenTelemetry enabled" in out
    assert {h["traceparent_count"] for h in seen} == {"1"}
    assert {s["agenttrace.scenario"] for s in server_spans(agenttrace_capture, requests)} == {"ask"}


def test_web_ui_has_an_agenttrace_tab(server: tuple[str, list[dict[str, str]]], tmp_path: Path) -> None:
    import time

    import httpx

    host, _ = server
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--autostart", "--run-time", "20s", "-u", "2"]
    command += ["-r", "2", "--host", host, "--web-host", "127.0.0.1", "--web-port", str(port), "FastAgent"]
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    process = subprocess.Popen(command, env=environ, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        rows: list[dict[str, object]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # bounded poll: the UI and the first stats report come up in their time
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/stats/requests", timeout=2).json()
            except (httpx.HTTPError, ValueError):
                time.sleep(0.2)
                continue
            extended = {e["key"]: e["data"] for e in body.get("extended_stats", [])}
            rows = list(extended.get("agenttrace", []))
            if rows and int(str(rows[0]["requests"])) > 0:
                break
            time.sleep(0.2)
        assert [r["name"] for r in rows] == [
            "context_load",
            "llm_call",
            "tool_execution",
            "total",
            "LLM calls/request",
            "tool calls/request",
            "input tokens/request",
            "output tokens/request",
        ]
        assert [r["calls_per_request"] for r in rows] == [1.0, 2.0, 1.0, 1.0, 2.0, 1.0, 200.0, 40.0]
        index = httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text
        assert '"extended_tabs": [{"key": "agenttrace", "title": "agenttrace stages"}]' in index
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert b"Traceback" not in stderr, stderr.decode()
