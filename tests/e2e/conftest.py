"""End to end: the embedded collector <- the example agent service (a subprocess) <- Locust or k6 (subprocesses).

Everything runs for real on 127.0.0.1: ``python -m examples.agent_service`` exports its spans over OTLP/HTTP to
an in-process :class:`~agenttrace.collector.Collector`, a load tool drives it with the example locustfile or
k6 script, then SIGTERM makes the service flush (its lifespan), and the test reads the span store.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from agenttrace.collector import Collector, CollectorConfig
from agenttrace.store import SpanStore
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "examples" / "locustfile.py"
K6_SCRIPT = ROOT / "examples" / "k6" / "agent-test.js"
DRAIN_WORKERS = Path(__file__).with_name("drain_workers.py")
#: drain_workers.NOT_REPORTED (not imported: importing Locust would monkey-patch this process with gevent).
NOT_REPORTED = "e2e: no report after stopping from workers"
#: The request names of examples/locustfile.py: each becomes a scenario of the run.
LOCUST_NAMES = {"create session", "simple question", "tool calling", "conversation"}
STAGES = ("context_load", "llm_call", "tool_call", "memory_save")
#: Fast simulated model and agent: only what a test turns on costs time.
FAST = ["--model-ttft-s", "0.005", "--model-per-token-s", "0", "--tool-latency-s", "0.005", "--db-latency-s", "0"]
TIMEOUT_S = 60


def environment(**env: str) -> dict[str, str]:
    """This process's environment without OTel/agenttrace/knob variables, with the worktree on PYTHONPATH."""
    result = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTTRACE_", "AGENT_", "MODEL_"))}
    result.pop("PYTEST_VERSION", None)  # the service's internal-error guard must behave as in production
    result.update({"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]), **env})
    return result


@dataclass
class _Lines:
    """The lines a stream has printed so far, read by a thread, with a condition to wait on."""

    lines: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)
    closed: bool = False

    def drain(self, stream: IO[str]) -> None:
        for line in stream:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.closed = True
            self.changed.notify_all()

    def wait_for(self, prefix: str, timeout: float) -> str:
        def found() -> str | None:
            return next((line for line in self.lines if line.startswith(prefix)), None)

        with self.changed:
            self.changed.wait_for(lambda: found() is not None or self.closed, timeout)
            line = found()
        assert line is not None, f"no line {prefix!r} within {timeout} s: {self.lines}"
        return line


class AgentService:
    """``python -m examples.agent_service`` exporting to ``otlp_url``; its output is drained by threads."""

    def __init__(self, otlp_url: str, *flags: str, **env: str) -> None:
        otel = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_url,
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_BSP_SCHEDULE_DELAY": "200",  # export as the run goes, as a deployed service would
            "OTEL_BSP_MAX_QUEUE_SIZE": "100000",  # exact counts below: no span may be dropped
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "examples.agent_service", *FAST, *flags],
            cwd=ROOT,
            env=environment(**otel, **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout, self.stderr = _Lines(), _Lines()
        self._threads = [
            threading.Thread(target=lines.drain, args=(stream,), daemon=True)
            for lines, stream in ((self.stdout, self.process.stdout), (self.stderr, self.process.stderr))
        ]
        for thread in self._threads:
            thread.start()
        self.url = self.stdout.wait_for("agent service on ", 30).removeprefix("agent service on ")

    def stop(self) -> None:
        """SIGTERM, then wait: uvicorn drains, the lifespan flushes the spans; it must exit 0."""
        self.process.send_signal(signal.SIGTERM)
        returncode = self.process.wait(timeout=TIMEOUT_S)
        self._close()
        assert returncode == 0, self.stderr.lines
        assert not any("Traceback" in line or "internal error" in line for line in self.stderr.lines), self.stderr.lines

    def kill(self) -> None:
        """Kill it if it still runs (a failed test); close its pipes."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close()

    def _close(self) -> None:
        for thread in self._threads:
            thread.join(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    """The embedded collector on a free port (OTLP/HTTP only), storing in ``tmp_path/spans.duckdb``."""
    with Collector(CollectorConfig(db=tmp_path / "spans.duckdb", http="127.0.0.1:0", grpc="")) as running:
        yield running


@pytest.fixture
def agent_service(collector: Collector) -> Iterator[Callable[..., AgentService]]:
    """Start the agent service exporting to ``collector``: ``agent_service(*flags, **env)``."""
    started: list[AgentService] = []

    def start(*flags: str, **env: str) -> AgentService:
        service = AgentService(f"http://127.0.0.1:{collector.http_port}", *flags, **env)
        started.append(service)
        return service

    yield start
    for service in started:
        service.kill()


def stored_spans(collector: Collector) -> list[dict[str, Any]]:
    """Every span in the collector's store (stops the collector first: all it acknowledged is loaded)."""
    collector.stop()
    columns = ("run_id", "scenario", "virtual_user", "kind", "stage", "http_status_code", "error_type", "name")
    with SpanStore.open(collector.config.db) as store:
        rows = store.query(f"SELECT {', '.join(columns)} FROM spans")
    return [dict(zip(columns, row, strict=True)) for row in rows]


def stage_counts(spans: list[dict[str, Any]]) -> dict[str, int]:
    """Stored spans per stage."""
    return dict(Counter(s["stage"] for s in spans if s["stage"] is not None))


def server_spans(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in spans if s["kind"] == "SERVER"]


def run_locust(
    host: str, tmp_path: Path, *args: str, wait_s: str = "0.05", run_s: int = 4, distributed: bool = False
) -> str:
    """A headless run of examples/locustfile.py; its output (Locust logs to stderr, agenttrace prints to stdout).

    ``distributed``: two worker processes, ended by :mod:`tests.e2e.drain_workers` after ``run_s`` seconds
    (so that the master gets every worker's last report), not by ``--run-time``.
    """
    command = [sys.executable, "-m", "locust", "--headless", "-u", "4", "-r", "4", "--host", host]
    # --stop-timeout: users finish their task at the end, so no request reaches the server unseen by Locust.
    command += ["--stop-timeout", "20", "--csv", str(tmp_path / "run")]
    if distributed:
        # A master port of our own: the default 5557 would meet any other distributed run on this machine.
        port = str(free_port())
        command += ["-f", f"{LOCUSTFILE},{DRAIN_WORKERS}", "--processes", "2", "--master-bind-host", "127.0.0.1"]
        command += ["--master-bind-port", port, "--master-host", "127.0.0.1", "--master-port", port]
    else:
        command += ["-f", str(LOCUSTFILE), "--run-time", f"{run_s}s"]
    env = environment(AGENT_WAIT_S=wait_s, E2E_RUN_S=str(run_s))
    done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=TIMEOUT_S, env=env, cwd=tmp_path)
    out = done.stderr + done.stdout
    assert done.returncode == 0, out
    assert "Traceback" not in out and "internal error" not in out and NOT_REPORTED not in out, out
    return out


def locust_counts(out: str) -> tuple[dict[str, int], int]:
    """Requests per name and the failures in Locust's final summary."""
    rows = re.findall(r"^POST\s+(\S.*?)\s+(\d+)\s+(\d+)\([\d.]+%\)\s+\|", out, re.M)
    assert rows, out
    return {name: int(n) for name, n, _ in rows}, sum(int(f) for _, _, f in rows)


def table_rows(out: str) -> dict[str, list[str]]:
    """The agenttrace table's rows: stage -> [requests, calls, calls/req, avg, p50, p95, p99]."""
    block = out.split("agenttrace stages (", 1)[1].split("\n-", 2)[1]
    return {row[0]: row[1:] for row in (line.split() for line in block.splitlines()[1:] if line.strip())}


def read_csv(path: Path) -> dict[str, list[str]]:
    """``PREFIX_agenttrace_stages.csv``: stage -> [requests, calls, ...]."""
    with path.open() as f:
        rows = list(csv.reader(f))
    assert rows[0][:3] == ["Stage", "Requests", "Calls"], rows[0]
    return {row[0]: row[1:] for row in rows[1:]}


def assert_locust_run_matches_the_store(out: str, tmp_path: Path, spans: list[dict[str, Any]], run_id: str) -> None:
    """What Locust and the plugin reported equals what the service stored for the run."""
    per_name, failures = locust_counts(out)
    assert failures == 0
    assert set(per_name) == LOCUST_NAMES, per_name
    # Every span of the run carries the run id and one of the request names as its scenario.
    assert {s["run_id"] for s in spans} == {run_id}
    assert {s["scenario"] for s in spans} == LOCUST_NAMES
    servers = server_spans(spans)
    assert dict(Counter(s["scenario"] for s in servers)) == per_name
    # Every response carried Server-Timing (no stage finishes after the headers of a JSON answer), so the
    # plugin's counts are the stored spans' counts.
    stored = stage_counts(spans)
    assert set(stored) == set(STAGES)
    requests = len(servers)
    assert f"agenttrace stages ({requests} requests with Server-Timing)" in out
    table = table_rows(out)
    stages_csv = read_csv(tmp_path / "run_agenttrace_stages.csv")
    for name, rows in (("table", table), ("csv", stages_csv)):
        assert {stage: int(row[1]) for stage, row in rows.items()} == {**stored, "total": requests}, name
