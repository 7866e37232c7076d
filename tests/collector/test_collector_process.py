"""The `agenttrace collector` / `agenttrace runs` commands as real processes: kill -9, restart, SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import httpx

from agenttrace.store import SpanStore
from agenttrace.store._log import segment_spans
from tests.collector.conftest import PYTHON, otlp_request, start_collector_process

PROTOBUF = {"content-type": "application/x-protobuf"}


def test_kill_9_keeps_every_acknowledged_span_and_restart_continues(tmp_path: Path) -> None:
    db = tmp_path / "spans.duckdb"
    # A long load interval keeps the acknowledged spans in the log only, so the kill hits before DuckDB has them.
    process, port = start_collector_process(db, "--load-interval", "3600")
    with httpx.Client() as client:
        for i in range(20):
            response = client.post(
                f"http://127.0.0.1:{port}/v1/traces", content=otlp_request(50, start=10**18 + i), headers=PROTOBUF
            )
            assert response.status_code == 200
    segments = list((tmp_path / "spans.duckdb.ingest").glob("*.tsv"))
    assert sum(segment_spans(segment) for segment in segments) == 20 * 50  # all acknowledged, none loaded yet
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    process.stdout.close()
    process.stderr.close()

    # Restart on the same file: replays the log, keeps serving, same run continues.
    process, port = start_collector_process(db)
    response = httpx.post(f"http://127.0.0.1:{port}/v1/traces", content=otlp_request(7), headers=PROTOBUF)
    assert response.status_code == 200
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert (process.returncode, out, err) == (0, "stopped: 7 spans stored, 0 requests refused\n", "")
    with SpanStore.open(db) as store:
        assert store.count() == 20 * 50 + 7
    assert list((tmp_path / "spans.duckdb.ingest").iterdir()) == []

    runs = subprocess.run([PYTHON, "-m", "agenttrace", "runs", "--db", str(db)], capture_output=True, text=True)
    assert runs.returncode == 0
    lines = runs.stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["RUN ID", "FIRST SPAN (UTC)", "LAST SPAN (UTC)", "REQUESTS", "SPANS"]
    assert len(lines) == 2
    assert re.split(r"\s{2,}", lines[1]) == ["run-1", "2001-09-09 01:46:40", "2023-11-14 22:13:20", "0", "1007"]


def test_sigint_with_nothing_received(tmp_path: Path) -> None:
    process, _ = start_collector_process(tmp_path / "empty.duckdb")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert (process.returncode, out, err) == (0, "stopped: 0 spans stored, 0 requests refused\n", "")


def test_busy_port_is_one_line_error(tmp_path: Path) -> None:
    holder, port = start_collector_process(tmp_path / "a.duckdb")
    try:
        result = subprocess.run(
            [PYTHON, "-m", "agenttrace", "collector", "--db", str(tmp_path / "b.duckdb"), "--http",
             f"127.0.0.1:{port}", "--grpc", "off"],
            capture_output=True, text=True, env={**os.environ},
        )  # fmt: skip
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.communicate(timeout=60)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"agenttrace: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
