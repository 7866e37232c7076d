"""Requests-per-minute and tokens-per-minute limits for the simulated model server, the way OpenAI applies them.

Each limit is a token bucket: it holds at most ``limit * window_s / 60`` units and refills continuously at
``limit / 60`` units a second. OpenAI documents that a per-minute limit may be enforced over a shorter window
(60,000 RPM as 1,000 requests a second); ``window_s`` is that window. A request is admitted only when both
buckets can pay for it; otherwise it is answered 429 with the time until it could be paid (``Retry-After``).
Every answer carries the ``x-ratelimit-*`` headers OpenAI sends.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


class Bucket:
    """One token bucket. ``limit`` units a minute, at most ``limit * window_s / 60`` held; 0 means unlimited."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.size = max(1.0, limit * window_s / 60.0) if limit else math.inf
        self.rate = limit / 60.0  # units per second
        self._clock = clock
        self._level = self.size
        self._at = clock()

    def level(self, now: float) -> float:
        """Units available at ``now`` (refills since the last look)."""
        if self.limit:
            self._level = min(self.size, self._level + (now - self._at) * self.rate)
            self._at = now
        return self._level

    def wait_for(self, units: float, now: float) -> float:
        """Seconds until ``units`` can be paid (0 if they can now); ``inf`` if they never can."""
        if not self.limit:
            return 0.0
        if units > self.size:
            return math.inf
        return max(0.0, (units - self.level(now)) / self.rate)

    def pay(self, units: float) -> None:
        """Take ``units`` out (after :meth:`wait_for` said they can be paid)."""
        if self.limit:
            self._level -= units

    def reset_in(self, now: float) -> float:
        """Seconds until the bucket is full again (OpenAI's ``x-ratelimit-reset-*``)."""
        return 0.0 if not self.limit else (self.size - self.level(now)) / self.rate


@dataclass(frozen=True)
class Decision:
    """The outcome of :meth:`RateLimiter.admit`: admitted or not, why not, and the headers to send."""

    admitted: bool
    limit_type: str  # "requests" or "tokens": the bucket that refused (OpenAI's error ``type``)
    retry_after_s: float
    headers: dict[str, str]


def _duration(seconds: float) -> str:
    """OpenAI's reset format: ``6m0s``, ``1s``, ``250ms``."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}m{secs:.0f}s" if minutes else f"{secs:.3g}s"


class RateLimiter:
    """Both limits of one model deployment; thread-safe, deterministic for a given clock."""

    def __init__(self, rpm: int, tpm: int, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._requests = Bucket(rpm, window_s, clock)
        self._tokens = Bucket(tpm, window_s, clock)
        self._lock = threading.Lock()

    def admit(self, tokens: int) -> Decision:
        """Pay one request and ``tokens`` estimated tokens if both buckets can, else say how long to wait."""
        with self._lock:
            now = self._clock()
            waits = {"requests": self._requests.wait_for(1, now), "tokens": self._tokens.wait_for(tokens, now)}
            refused = max(waits, key=lambda k: waits[k])
            admitted = waits[refused] == 0
            if admitted:
                self._requests.pay(1)
                self._tokens.pay(tokens)
            return Decision(admitted, refused, waits[refused], self._headers(now))

    def _headers(self, now: float) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, bucket in (("requests", self._requests), ("tokens", self._tokens)):
            if bucket.limit:
                headers[f"x-ratelimit-limit-{name}"] = str(bucket.limit)
                headers[f"x-ratelimit-remaining-{name}"] = str(max(0, math.floor(bucket.level(now))))
                headers[f"x-ratelimit-reset-{name}"] = _duration(bucket.reset_in(now))
        return headers
