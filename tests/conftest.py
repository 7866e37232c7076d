"""Shared fixtures.

``ended_spans``: wait for spans that end in another thread (a real uvicorn server answers before its
request span ends: the span ends after the last byte is handed to the socket). It waits on a condition the
span processor signals, never on a sleep.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from agenttrace.testing import Capture


class SpanWaiter(SpanProcessor):
    """Collects ended spans and lets a test block until the ones it expects have ended."""

    def __init__(self) -> None:
        self._ended: list[ReadableSpan] = []
        self._changed = threading.Condition()

    def on_end(self, span: ReadableSpan) -> None:
        with self._changed:
            self._ended.append(span)
            self._changed.notify_all()

    def wait(self, ready: Callable[[Sequence[ReadableSpan]], bool], timeout: float = 10.0) -> list[ReadableSpan]:
        """Block until ``ready(ended_spans)`` holds; fail the test after ``timeout`` seconds."""
        with self._changed:
            if not self._changed.wait_for(lambda: ready(self._ended), timeout):
                names = [s.name for s in self._ended]
                raise AssertionError(f"spans did not end within {timeout} s; ended so far: {names}")
            return list(self._ended)

    def wait_for_kind(self, kind: str, count: int, timeout: float = 10.0) -> list[ReadableSpan]:
        """Block until ``count`` spans of ``kind`` (e.g. ``"SERVER"``) have ended; returns all ended spans."""
        return self.wait(lambda spans: sum(s.kind.name == kind for s in spans) >= count, timeout)


@pytest.fixture
def ended_spans(agenttrace_capture: Capture) -> SpanWaiter:
    """A :class:`SpanWaiter` attached to this test's ``agenttrace_capture``."""
    waiter = SpanWaiter()
    agenttrace_capture.tracer_provider.add_span_processor(waiter)
    return waiter


def free_port() -> int:
    """A TCP port free on 127.0.0.1 a moment ago, for programs that cannot be given port 0 (Locust's master, rotel)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
