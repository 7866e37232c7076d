"""Exit: queued spans reach the collector when a real server is stopped with SIGTERM, within a bounded time."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agenttrace.collector import Collector, CollectorConfig
from agenttrace.store import SpanStore

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "s3cret"
N = 7


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    config = CollectorConfig(db=tmp_path / "spans.duckdb", http="127.0.0.1:0", grpc="127.0.0.1:0", token=TOKEN)
    with Collector(config) as running:
        yield running


def environment(**env: str) -> dict[str, str]:
    result = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTTRACE_"))}
    result.update({"OTEL_METRICS_EXPORTER": "none", "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])})
    result.pop("PYTEST_VERSION", None)
    result.update(env)
    return result


def server_command(server: str, fd: int) -> list[str]:
    if server == "uvicorn":
        return [sys.executable, "-m", "uvicorn", "--fd", str(fd), "tests.exit_app:app"]
    if server == "gunicorn":
        return [
            sys.executable, "-m", "gunicorn", "-k", "uvicorn_worker.UvicornWorker", "-w", "1",
            "--bind", f"fd://{fd}", "tests.exit_app:app",
        ]  # fmt: skip
    return [sys.executable, "-m", "hypercorn", "--bind", f"fd://{fd}", "tests.exit_app:app"]


@pytest.mark.parametrize("server", ["uvicorn", "gunicorn", "hypercorn"])
def test_sigterm_right_after_the_last_response_exports_every_queued_span(collector: Collector, server: str) -> None:
    # The server inherits an already listening socket: no port race, and requests wait in the backlog until it serves.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        env = environment(
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.http_port}",
            OTEL_EXPORTER_OTLP_HEADERS=f"authorization=Bearer {TOKEN}",
            OTEL_BSP_SCHEDULE_DELAY="60000",  # nothing is exported before shutdown
        )
        process = subprocess.Popen(
            server_command(server, listener.fileno()),
            env=env,
            cwd=ROOT,
            pass_fds=(listener.fileno(),),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            statuses = [client.get("/chat").status_code for _ in range(N)]
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert statuses == [200] * N
    assert "spans were dropped" not in stderr
    db = collector.config.db
    collector.stop()
    with SpanStore.open(db) as store:
        rows = store.query("SELECT name, service_name, kind FROM spans ORDER BY name")
    assert rows == [("GET /chat", "svc-exit", "SERVER")] * N + [("chat m", "svc-exit", "CLIENT")] * N


WARNING = re.compile(
    r"agenttrace: (\d+) spans were dropped before export \((\d+) queue full, (\d+) export failed, "
    r"(\d+) unsent when the ([\d.]+) s exit budget ran out\)"
)
BUDGET = 1.0
SLACK = 5.0  # generous: two shared cores; the old exit took 30 s and more


def exit_with_unreachable_collector(endpoint: str, spans: int) -> tuple[dict[str, int], tuple[int, ...], float]:
    """Run a program that ends `spans` spans and exits; what it counted, its one warning, and its exit time."""
    env = environment(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, AGENTTRACE_EXIT_TIMEOUT=str(BUDGET))
    done = subprocess.run(
        [sys.executable, "-m", "tests.configure_app", "exit", str(spans - 1)],  # N-1 stage spans + the request
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    ended_at = time.time()
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    [warning] = [m.groups() for m in map(WARNING.search, done.stderr.splitlines()) if m]
    *counts, budget = warning
    assert float(budget) == BUDGET
    return report["dropped"], tuple(int(c) for c in counts), ended_at - report["exiting_at"]


def test_black_holed_collector_costs_a_bounded_exit_and_every_span_is_counted() -> None:
    with socket.socket() as hole:  # accepts connections (the kernel's backlog) and never answers
        hole.bind(("127.0.0.1", 0))
        hole.listen(16)
        dropped, warning, exit_seconds = exit_with_unreachable_collector(
            f"http://127.0.0.1:{hole.getsockname()[1]}", 1200
        )
    # 512 spans are inside the exporter waiting for an answer, 688 queued behind them: all counted.
    assert dropped == {"queue_full": 0, "export_failed": 0, "exit_timeout": 1200}
    assert warning == (1200, 0, 0, 1200)
    assert exit_seconds < BUDGET + SLACK


def test_dead_collector_costs_a_bounded_exit_and_every_span_is_counted() -> None:
    with socket.socket() as taken:  # bound, never listening: connections are refused, the exporter retries
        taken.bind(("127.0.0.1", 0))
        dropped, warning, exit_seconds = exit_with_unreachable_collector(
            f"http://127.0.0.1:{taken.getsockname()[1]}", 1200
        )
    assert sum(dropped.values()) == 1200
    assert dropped["queue_full"] == 0
    assert warning == (1200, 0, dropped["export_failed"], dropped["exit_timeout"])
    assert exit_seconds < BUDGET + SLACK


def test_metrics_that_cannot_be_exported_at_exit_cost_one_line_not_a_traceback() -> None:
    with socket.socket() as taken:  # bound, never listening: the metric exporter's connections are refused
        taken.bind(("127.0.0.1", 0))
        env = environment(
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{taken.getsockname()[1]}",
            OTEL_METRICS_EXPORTER="otlp",
            AGENTTRACE_EXIT_TIMEOUT=str(BUDGET),
        )
        done = subprocess.run(
            [sys.executable, "-m", "tests.configure_app", "exit", "9"],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "internal error" not in done.stderr
    ours = [line for line in done.stderr.splitlines() if line.startswith("agenttrace:")]
    assert len(ours) == 1 and ours[0].startswith("agenttrace: 10 spans were dropped before export"), done.stderr
