"""HTTP receiver limits, against a real collector over raw sockets: idle, slow and oversized clients."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx
import pytest

from agenttrace import _cli
from tests.collector.conftest import otlp_request, stored_count

LIMITS = {"grpc": None, "read_timeout": 0.5, "keepalive_timeout": 0.5, "max_header_bytes": 64 * 1024}


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _until_closed(sock: socket.socket, within: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection (fails if it is still open ``within`` s)."""
    deadline = time.monotonic() + within
    received = b""
    while True:  # bounded by the deadline: every recv waits at most until it
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def _status_line(response: bytes) -> bytes:
    return response.split(b"\r\n", 1)[0]


def test_idle_and_slow_heads_are_closed(start_collector) -> None:
    collector = start_collector(**LIMITS)
    idle = [_connect(collector.http_port) for _ in range(50)]
    slow = _connect(collector.http_port)
    slow.sendall(b"POST /v1/traces HTTP/1.1\r\nhost: x\r\n")  # and never the rest of the head
    started = time.monotonic()
    assert [_until_closed(sock) for sock in idle] == [b""] * 50
    response = _until_closed(slow)
    assert _status_line(response) == b"HTTP/1.1 408 Request Timeout"
    assert response.endswith(b"\r\n\r\nrequest head not received in time")
    assert time.monotonic() - started < 5
    for sock in [*idle, slow]:
        sock.close()


def test_idle_keepalive_connection_is_closed(start_collector, tmp_path: Path) -> None:
    collector = start_collector(**LIMITS)
    body = otlp_request(3)
    with _connect(collector.http_port) as sock:
        head = b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\n"
        sock.sendall(head + b"content-length: %d\r\n\r\n" % len(body) + body)
        response = _until_closed(sock)  # answered, then closed after the keep-alive timeout
    assert _status_line(response) == b"HTTP/1.1 200 OK"
    collector.stop()
    assert stored_count(tmp_path / "spans.duckdb") == 3


def test_oversized_head_is_431(start_collector, tmp_path: Path) -> None:
    collector = start_collector(**LIMITS)
    for size in (1024 * 1024, 70 * 1024):  # over many reads, and (likely) complete in one read
        with _connect(collector.http_port) as sock:
            sock.sendall(b"POST /v1/traces HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * size + b"\r\n\r\n")
            response = _until_closed(sock)
        assert _status_line(response) == b"HTTP/1.1 431 Request Header Fields Too Large"
        assert response.endswith(b"\r\n\r\nrequest headers are too large")
    # Under the limit is fine.
    headers = {"content-type": "application/x-protobuf", "x-big": "a" * (60 * 1024)}
    url = f"http://127.0.0.1:{collector.http_port}/v1/traces"
    assert httpx.post(url, content=otlp_request(2), headers=headers).status_code == 200
    collector.stop()
    assert stored_count(tmp_path / "spans.duckdb") == 2


def test_stalled_body_is_408(start_collector, tmp_path: Path) -> None:
    collector = start_collector(**LIMITS)
    with _connect(collector.http_port) as sock:
        sock.sendall(
            b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"
        )
        response = _until_closed(sock)
    head, _, body = response.partition(b"\r\n\r\n")
    assert _status_line(head) == b"HTTP/1.1 408 Request Timeout"
    assert b"\r\nconnection: close" in head
    assert json.loads(body) == {"code": 4, "message": "request body stalled for 0.5 s"}
    collector.stop()
    assert stored_count(tmp_path / "spans.duckdb") == 0


def test_connections_beyond_the_limit_get_503(start_collector, tmp_path: Path) -> None:
    collector = start_collector(**{**LIMITS, "read_timeout": 30.0, "max_connections": 5})
    held = [_connect(collector.http_port) for _ in range(5)]
    with _connect(collector.http_port) as sock:
        response = _until_closed(sock)
    assert _status_line(response) == b"HTTP/1.1 503 Service Unavailable"
    assert b"\r\nretry-after: 1\r\n" in response
    assert response.endswith(b"\r\n\r\ntoo many connections, retry later")
    # A held connection still works; once one closes, a new client gets in.
    body = otlp_request(4)
    held[0].sendall(
        b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\n"
        + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
        + body
    )
    assert _status_line(_until_closed(held[0])) == b"HTTP/1.1 200 OK"
    for sock in held:
        sock.close()
    url = f"http://127.0.0.1:{collector.http_port}/v1/traces"
    deadline = time.monotonic() + 5
    status = 0
    while status != 200 and time.monotonic() < deadline:  # the server sees the closes asynchronously
        try:
            status = httpx.post(
                url, content=otlp_request(1), headers={"content-type": "application/x-protobuf"}
            ).status_code
        except httpx.HTTPError:
            status = 0
    assert status == 200
    collector.stop()
    assert stored_count(tmp_path / "spans.duckdb") == 5


def test_workers_apply_the_limits(start_collector) -> None:
    collector = start_collector(**{**LIMITS, "workers": 2})
    with _connect(collector.http_port) as idle:
        assert _until_closed(idle) == b""
    with _connect(collector.http_port) as sock:
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * (1024 * 1024) + b"\r\n\r\n")
        assert _status_line(_until_closed(sock)) == b"HTTP/1.1 431 Request Header Fields Too Large"


def test_cli_refuses_limits_that_cannot_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["collector", "--db", str(tmp_path / "x.duckdb"), "--http", "127.0.0.1:0", "--grpc", "off"]
    assert _cli.main([*argv, "--read-timeout", "0"]) == 1
    assert capsys.readouterr() == ("", "agenttrace: error: --read-timeout must be positive, got 0.0\n")
    assert _cli.main([*argv, "--max-connections", "-1"]) == 1
    assert capsys.readouterr() == ("", "agenttrace: error: --max-connections must be positive, got -1\n")
