"""``--forward``: tee every accepted export request to another OTLP/HTTP endpoint (Jaeger, a collector).

A bounded queue and one sender thread; retryable answers (429, 502, 503, 504, connection errors) are
retried with capped exponential backoff, honouring ``Retry-After``. When the queue is full the oldest
request is dropped and counted, so a slow or dead target never slows down or grows the collector.
"""

from __future__ import annotations

import collections
import logging
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

log = logging.getLogger("agenttrace.collector")
RETRYABLE = frozenset({429, 502, 503, 504})


@dataclass
class ForwardStats:
    """Counters of the forwarder."""

    offered: int = 0
    sent: int = 0
    dropped: int = 0
    retries: int = 0


def traces_url(url: str) -> str:
    """The OTLP/HTTP traces URL for ``url``: ``/v1/traces`` is added when the URL has no path.

    Raises:
        ValueError: ``url`` is not an http(s) URL.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"--forward needs an http(s) URL, got {url!r}")
    path = parts.path if parts.path not in ("", "/") else "/v1/traces"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


class OtlpForwarder:
    """Sends copies of export requests to ``url`` from a background thread.

    Args:
        url: OTLP/HTTP endpoint (``http://host:4318`` or a full ``.../v1/traces`` URL).
        max_queue: Requests held at most; past it the oldest is dropped.
        max_attempts: Tries per request before it is dropped.
        headers: Extra headers for the target (for example its own token).
    """

    def __init__(
        self,
        url: str,
        *,
        max_queue: int = 1000,
        max_attempts: int = 6,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.url = traces_url(url)
        self.stats = ForwardStats()
        self._queue: collections.deque[bytes] = collections.deque()
        self._max_queue = max_queue
        self._max_attempts = max_attempts
        self._cond = threading.Condition()
        self._closing = False
        self._stop_now = threading.Event()
        self._client = httpx.Client(
            timeout=timeout, headers={"content-type": "application/x-protobuf", **(headers or {})}
        )
        self._thread = threading.Thread(target=self._run, name="agenttrace-forward", daemon=True)
        self._thread.start()

    def offer(self, body: bytes) -> None:
        """Queue a serialised ``ExportTraceServiceRequest``; drops the oldest one when full."""
        with self._cond:
            self.stats.offered += 1
            if self._closing:
                self.stats.dropped += 1
                return
            if len(self._queue) >= self._max_queue:
                self._queue.popleft()
                self.stats.dropped += 1
            self._queue.append(body)
            self._cond.notify()

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (for at most ``timeout`` seconds), then stop."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._stop_now.set()
            self._thread.join()
        self._client.close()
        if self.stats.dropped:
            log.warning("agenttrace collector: %d requests were not forwarded to %s", self.stats.dropped, self.url)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self._closing)
                if not self._queue:
                    return
                body = self._queue.popleft()
            if self._stop_now.is_set():
                with self._cond:
                    self.stats.dropped += 1 + len(self._queue)
                    self._queue.clear()
                return
            self._send(body)

    def _send(self, body: bytes) -> None:
        for attempt in range(self._max_attempts):
            delay = min(0.1 * 2**attempt, 5.0)
            try:
                response = self._client.post(self.url, content=body)
            except httpx.HTTPError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 300:
                    self.stats.sent += 1
                    return
                if response.status_code not in RETRYABLE:
                    log.warning("agenttrace collector: %s refused a forward: %s", self.url, response.status_code)
                    break
                reason = f"HTTP {response.status_code}"
                retry_after = response.headers.get("retry-after", "")
                if retry_after.isdigit():
                    delay = min(float(retry_after), 30.0)
            self.stats.retries += 1
            log.debug("agenttrace collector: forwarding failed (%s), retrying in %.1fs", reason, delay)
            # A backoff delay, cut short by a forced stop; not a synchronisation sleep.
            if self._stop_now.wait(delay):
                break
        self.stats.dropped += 1
