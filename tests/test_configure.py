"""configure(): real OTLP export (HTTP and gRPC) into the real agenttrace collector, in fresh processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agenttrace.collector import Collector, CollectorConfig
from agenttrace.store import SpanStore

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    config = CollectorConfig(db=tmp_path / "spans.duckdb", http="127.0.0.1:0", grpc="127.0.0.1:0", token="s3cret")
    with Collector(config) as running:
        yield running


def run_app(mode: str, n: int, **env: str) -> tuple[dict[str, object], str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    # The worktree's own src first: an installed agenttrace (another checkout) must not win in the child.
    pythonpath = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    environment.update({"OTEL_METRICS_EXPORTER": "none", "PYTHONPATH": pythonpath, **env})
    environment.pop("PYTEST_VERSION", None)
    done = subprocess.run(
        [sys.executable, "-m", "tests.configure_app", mode, str(n)],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def stored(collector: Collector) -> list[tuple[object, ...]]:
    db = collector.config.db
    collector.stop()
    with SpanStore.open(db) as store:
        return store.query(
            "SELECT name, service_name, run_id, scenario, input_tokens FROM spans ORDER BY name, span_id"
        )


@pytest.mark.parametrize(
    ("protocol", "port_attr"),
    [("http/protobuf", "http_port"), ("grpc", "grpc_port")],
)
def test_configure_exports_over_otlp(collector: Collector, protocol: str, port_attr: str) -> None:
    port = getattr(collector, port_attr)
    result, stderr = run_app(
        "export",
        50,
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",
        OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer s3cret",
    )
    assert result == {
        "owns": True,
        "idempotent": True,
        "dropped": {"queue_full": 0, "export_failed": 0, "exit_timeout": 0},
    }
    assert "dropped" not in stderr
    rows = stored(collector)
    assert rows == [("chat m", "svc-cfg", "run-cfg", "smoke", 3)] * 50 + [("job", "svc-cfg", "run-cfg", "smoke", 150)]
    with SpanStore.open(collector.config.db) as store:
        [run] = store.list_runs()
    assert (run.run_id, run.requests, run.spans) == ("run-cfg", 1, 51)  # the request() span counts as a request


def test_rejected_exports_are_counted_and_warned_once(collector: Collector) -> None:
    result, stderr = run_app(
        "export",
        199,
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.http_port}",  # no token: 401, not retryable
        OTEL_BSP_MAX_QUEUE_SIZE="20",
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE="10",
    )
    dropped = result["dropped"]
    assert isinstance(dropped, dict)
    assert sum(dropped.values()) == 200  # every span is accounted for: evicted from the queue or refused
    warnings = [line for line in stderr.splitlines() if "spans were dropped" in line]
    assert len(warnings) == 1
    assert "agenttrace: 200 spans were dropped before export" in warnings[0]
    assert stored(collector) == []


def test_configure_uses_the_provider_the_app_configured() -> None:
    result, _ = run_app("user-provider", 1)
    assert result == {
        "owns": False,
        "same": True,
        "spans": {"chat m": "run-user", "user-span": "run-user", "job": "run-user"},
    }


def test_exit_flushes_and_sampler_comes_from_environment(collector: Collector) -> None:
    endpoint = f"http://127.0.0.1:{collector.http_port}"
    headers = "authorization=Bearer s3cret"
    result, _ = run_app("atexit", 7, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_EXPORTER_OTLP_HEADERS=headers)
    assert result == {"llm_calls": 7, "input_tokens": 21}
    result, _ = run_app(
        "atexit",
        5,
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_HEADERS=headers,
        OTEL_TRACES_SAMPLER="always_off",
    )
    assert result == {"llm_calls": 5, "input_tokens": 15}  # sampled away, still accounted
    assert stored(collector) == [("chat m", "svc-cfg", "run-cfg", "smoke", 3)] * 7 + [
        ("job", "svc-cfg", "run-cfg", "smoke", 21)
    ]


def test_dead_collector_costs_the_app_only_counted_drops() -> None:
    with socket.socket() as probe:  # a port nothing listens on: connections are refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result, stderr = run_app(
        "export",
        99,
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",
        OTEL_EXPORTER_OTLP_TIMEOUT="1",  # the exporter retries a refused connection until this deadline
        OTEL_BSP_MAX_QUEUE_SIZE="20",
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE="10",
    )
    dropped = result["dropped"]
    assert isinstance(dropped, dict)
    assert sum(dropped.values()) == 100
    assert dropped["queue_full"] > 0
    assert [line for line in stderr.splitlines() if "spans were dropped" in line] == [
        f"agenttrace: 100 spans were dropped before export ({dropped['queue_full']} queue full, "
        f"{dropped['export_failed']} export failed, {dropped['exit_timeout']} unsent when the 3.0 s exit budget "
        "ran out); "
        "raise OTEL_BSP_MAX_QUEUE_SIZE, sample, or check the collector"
    ]
