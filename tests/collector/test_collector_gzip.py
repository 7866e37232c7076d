"""OTLP/HTTP gzip bodies: every member is decoded; anything else after a member is a 400, never ignored."""

from __future__ import annotations

import gzip
from pathlib import Path

import httpx
from google.rpc import status_pb2

from tests.collector.conftest import otlp_request, stored_count

GZIP_PROTOBUF = {"content-type": "application/x-protobuf", "content-encoding": "gzip"}


def _post(port: int, body: bytes) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{port}/v1/traces", content=body, headers=GZIP_PROTOBUF)


def test_concatenated_members_are_all_stored(start_collector, tmp_path: Path) -> None:
    collector = start_collector()
    # Two protobuf messages concatenated are one message with both lists merged (protobuf's rule).
    body = gzip.compress(otlp_request(3)) + gzip.compress(otlp_request(4))
    response = _post(collector.http_port, body)
    assert (response.status_code, response.content) == (200, b"")
    collector.stop()
    assert stored_count(tmp_path / "spans.duckdb") == 7


def test_trailing_garbage_is_rejected_with_the_reason(start_collector, tmp_path: Path) -> None:
    collector = start_collector()
    port = collector.http_port
    member = gzip.compress(otlp_request(3))
    answers = []
    for body in (member + b"garbage!", member + b"\x1f\x8bnot really gzip", member + gzip.compress(b"x")[:12]):
        response = _post(port, body)
        answers.append((response.status_code, status_pb2.Status.FromString(response.content).message))
    assert answers == [
        (400, "trailing garbage after gzip member 1: 8 bytes that are not gzip"),
        (400, "trailing garbage after gzip member 1: Error -3 while decompressing data: unknown compression method"),
        (400, "truncated gzip body"),
    ]
    collector.stop()
    assert stored_count(tmp_path / "spans.duckdb") == 0


def test_members_share_one_size_limit(start_collector, tmp_path: Path) -> None:
    collector = start_collector(max_body=64 * 1024)
    # Each member alone is under the limit; together they are over it.
    members = gzip.compress(b"\x00" * (40 * 1024)) * 2
    response = _post(collector.http_port, members)
    assert response.status_code == 413
    assert status_pb2.Status.FromString(response.content).message == "decompressed body is over the 65536 byte limit"
