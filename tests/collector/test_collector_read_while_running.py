"""Read commands work while the collector holds the store: they ask the collector's query API."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from agenttrace.store import CollectorInfo, RemoteStore, SpanStore, StoreError, open_reader
from tests.collector.conftest import PYTHON, otlp_request, start_collector_process

PROTOBUF = {"content-type": "application/x-protobuf"}
HEADER = ["RUN ID", "FIRST SPAN (UTC)", "LAST SPAN (UTC)", "REQUESTS", "SPANS"]
RUN_A = ["run-a", "2023-11-14 22:13:20", "2023-11-14 22:13:20", "0", "30"]
RUN_B = ["run-b", "2023-11-14 22:13:20", "2023-11-14 22:13:20", "0", "12"]


def _runs(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "agenttrace", "runs", *args], capture_output=True, text=True, env=env, timeout=60
    )


def _table(out: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line) for line in out.splitlines()]


def _send(port: int, token: str | None = None) -> None:
    headers = {**PROTOBUF, **({"authorization": f"Bearer {token}"} if token else {})}
    with httpx.Client() as client:
        for run_id, spans in (("run-a", 30), ("run-b", 12)):
            response = client.post(
                f"http://127.0.0.1:{port}/v1/traces", content=otlp_request(spans, run_id=run_id), headers=headers
            )
            assert response.status_code == 200


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert (process.returncode, err) == (0, "")
    return out


def test_runs_while_the_collector_runs_then_after_it_stopped(tmp_path: Path) -> None:
    db = tmp_path / "spans.duckdb"
    process, port = start_collector_process(db, "--load-interval", "3600")
    try:
        _send(port)
        announced = json.loads((tmp_path / "spans.duckdb.collector").read_text())
        assert announced == {"pid": process.pid, "api_url": f"http://127.0.0.1:{port}"}
        # Acknowledged spans wait in the log for up to an hour (--load-interval): the read loads them first.
        running = _runs("--db", str(db))
        assert (running.returncode, running.stderr) == (0, "")
        assert _table(running.stdout) == [HEADER, RUN_A, RUN_B]
        by_url = _runs("--collector", f"http://127.0.0.1:{port}")
        assert (by_url.returncode, _table(by_url.stdout)) == (0, [HEADER, RUN_A, RUN_B])
    finally:
        _stop(process)
    assert not (tmp_path / "spans.duckdb.collector").exists()
    stopped = _runs("--db", str(db))
    assert (stopped.returncode, stopped.stderr, _table(stopped.stdout)) == (0, "", [HEADER, RUN_A, RUN_B])


def test_the_query_api_asks_for_the_collectors_token(tmp_path: Path) -> None:
    db = tmp_path / "spans.duckdb"
    process, port = start_collector_process(db, "--token", "s3cret")
    try:
        env = {k: v for k, v in os.environ.items() if k != "AGENTTRACE_COLLECTOR_TOKEN"}
        refused = _runs("--db", str(db), env=env)
        assert (refused.returncode, refused.stdout) == (1, "")
        assert refused.stderr == (
            f"agenttrace: error: the collector at http://127.0.0.1:{port} answered 401: missing or wrong bearer token\n"
        )
        allowed = _runs("--db", str(db), env={**env, "AGENTTRACE_COLLECTOR_TOKEN": "s3cret"})
        assert (allowed.returncode, allowed.stdout, allowed.stderr) == (0, f"no spans in {db}\n", "")
    finally:
        _stop(process)


def test_with_worker_processes_the_api_has_its_own_port(tmp_path: Path) -> None:
    db = tmp_path / "spans.duckdb"
    process = subprocess.Popen(
        [PYTHON, "-m", "agenttrace", "collector", "--db", str(db), "--http", "127.0.0.1:0", "--grpc", "off",
         "--workers", "2", "--load-interval", "3600"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        port = int(re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+) \(OTLP/HTTP\)\n", lines[1]).group(1))  # type: ignore[union-attr]
        api = re.fullmatch(r"query API on (http://127\.0\.0\.1:\d+)\n", lines[2])
        assert api is not None, lines
        assert not api.group(1).endswith(f":{port}")
        _send(port)
        runs = RemoteStore(api.group(1)).list_runs()  # acknowledged by the workers, loaded for this read
        assert [(r.run_id, r.requests, r.spans) for r in runs] == [("run-a", 0, 30), ("run-b", 0, 12)]
        assert httpx.post(f"{api.group(1)}/v1/traces", content=b"", headers=PROTOBUF).status_code == 404
    finally:
        _stop(process)


def test_a_killed_collectors_announcement_is_ignored(tmp_path: Path) -> None:
    db = tmp_path / "spans.duckdb"
    process, port = start_collector_process(db, "--load-interval", "3600")
    _send(port)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    process.communicate()
    assert (tmp_path / "spans.duckdb.collector").exists()  # left behind, naming a dead pid
    reader = open_reader(db)
    try:
        assert isinstance(reader, SpanStore)  # opened directly, replaying what was acknowledged
        assert [(r.run_id, r.spans) for r in reader.list_runs()] == [("run-a", 30), ("run-b", 12)]
    finally:
        reader.close()


def test_in_process_collector_is_read_through_its_api(start_collector) -> None:  # type: ignore[no-untyped-def]
    collector = start_collector()
    info = CollectorInfo.find(collector.config.db)
    assert info == CollectorInfo(os.getpid(), f"http://127.0.0.1:{collector.http_port}")
    reader = open_reader(collector.config.db)
    assert isinstance(reader, RemoteStore)
    assert reader.list_runs() == []


def test_unreachable_collector_is_one_clear_error() -> None:
    with pytest.raises(StoreError, match=r"^cannot read from the collector at http://127\.0\.0\.1:9: "):
        RemoteStore("http://127.0.0.1:9").list_runs()
