"""rotel (a real OpenTelemetry collector, in Rust) in front of and behind the embedded collector."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

from tests.collector.conftest import provider_for, stored_count
from tests.conftest import free_port

rotel_agent = pytest.importorskip("rotel.agent")
pytestmark = pytest.mark.slow
SPANS_EACH = 300


class Rotel:
    def __init__(self, tmp_path: Path, exporter_endpoint: str, protocol: str) -> None:
        self.grpc_port, self.http_port = free_port(), free_port()
        env = {
            **os.environ,
            "ROTEL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{self.grpc_port}",
            "ROTEL_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{self.http_port}",
            "ROTEL_OTLP_EXPORTER_ENDPOINT": exporter_endpoint,
            "ROTEL_OTLP_EXPORTER_PROTOCOL": protocol,
            "ROTEL_PID_FILE": str(tmp_path / "rotel.pid"),
            "ROTEL_LOG_FILE": str(tmp_path / "rotel.log"),
        }
        # The rotel package ships the binary next to its module and runs `rotel-agent start`; so do we,
        # in the foreground, so the test owns the process.
        self.process = subprocess.Popen(
            [str(rotel_agent.agent.agent_path), "start"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in (self.grpc_port, self.http_port):
            self._wait_listening(port)

    def _wait_listening(self, port: int) -> None:
        for _ in range(200):  # bounded: at most ~10 s
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                try:
                    self.process.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    continue
                raise AssertionError(f"rotel exited with {self.process.returncode}") from None
        raise AssertionError(f"rotel is not listening on {port}")

    def stop(self) -> None:
        """Graceful stop: rotel flushes its batches to the exporter first."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


@pytest.fixture
def rotels(tmp_path: Path) -> Iterator[list[Rotel]]:
    started: list[Rotel] = []
    yield started
    for rotel in started:
        rotel.stop()


def _send(providers: list) -> None:
    for provider in providers:
        tracer = provider.get_tracer("test")
        for i in range(SPANS_EACH):
            with tracer.start_as_current_span("op", attributes={"agenttrace.run_id": "rotel", "i": i}):
                pass
    for provider in providers:
        assert provider.force_flush()
        provider.shutdown()


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_rotel_forwards_everything_into_collector(start_collector, rotels, tmp_path: Path, protocol: str) -> None:
    collector = start_collector()
    port = collector.http_port if protocol == "http" else collector.grpc_port
    rotel = Rotel(tmp_path, f"http://127.0.0.1:{port}", protocol)
    rotels.append(rotel)
    _send(
        [
            provider_for(HttpExporter(endpoint=f"http://127.0.0.1:{rotel.http_port}/v1/traces")),
            provider_for(HttpExporter(endpoint=f"http://127.0.0.1:{rotel.http_port}/v1/traces")),
            provider_for(GrpcExporter(endpoint=f"127.0.0.1:{rotel.grpc_port}", insecure=True)),
        ]
    )
    rotel.stop()
    assert rotel.process.returncode == 0
    collector.stop()
    assert stored_count(tmp_path / "spans.duckdb", "run_id = 'rotel' AND service_name = 'svc'") == 3 * SPANS_EACH


def test_forward_through_rotel_to_second_collector(start_collector, rotels, tmp_path: Path) -> None:
    # app -> collector A (--forward) -> rotel -> collector B: both stores end with every span.
    second = start_collector(db=tmp_path / "b.duckdb")
    rotel = Rotel(tmp_path, f"http://127.0.0.1:{second.http_port}", "http")
    rotels.append(rotel)
    first = start_collector(db=tmp_path / "a.duckdb", forward=f"http://127.0.0.1:{rotel.http_port}")
    _send([provider_for(HttpExporter(endpoint=f"http://127.0.0.1:{first.http_port}/v1/traces")) for _ in range(2)])
    first.stop()
    assert first.forwarder is not None
    stats = first.forwarder.stats
    assert (stats.dropped, stats.sent, stats.offered >= 2) == (0, stats.offered, True)  # every request, one per batch
    rotel.stop()
    second.stop()
    assert stored_count(tmp_path / "a.duckdb") == 2 * SPANS_EACH
    assert stored_count(tmp_path / "b.duckdb", "run_id = 'rotel'") == 2 * SPANS_EACH


def test_forward_target_down_drops_are_counted(start_collector, tmp_path: Path) -> None:
    collector = start_collector(forward=f"http://127.0.0.1:{free_port()}")
    assert collector.forwarder is not None
    collector.forwarder._max_attempts = 2  # keep the test short: the target never comes up
    _send([provider_for(HttpExporter(endpoint=f"http://127.0.0.1:{collector.http_port}/v1/traces"))])
    collector.stop()
    stats = collector.forwarder.stats
    assert (stats.sent, stats.dropped, stats.offered >= 1) == (0, stats.offered, True)
    assert stored_count(tmp_path / "spans.duckdb") == SPANS_EACH
