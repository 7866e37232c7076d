"""``GET /api/v1/live?run=ID``: the live page's one read per poll, kept cheap enough not to slow ingest.

A report reads the whole run, so on a large run it costs seconds of CPU that the receiver and the loader
need. This route answers the report and the series together and recomputes them at most at a bounded duty
cycle: an answer is reused until it is ``cost / MAX_DUTY`` seconds old (and at least ``MIN_AGE_S``), where
``cost`` is what computing it took. Concurrent polls (several open pages) wait for one computation instead of
starting their own. So however many pages poll, reads take at most ``MAX_DUTY`` of the collector's time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from agenttrace.store._reader import SpanStore

#: Longest share of the time the collector spends building live answers (the rest is left to ingest).
MAX_DUTY = 0.05
#: An answer is reused for at least this long (seconds), however cheap it was.
MIN_AGE_S = 1.0

Compute = Callable[[SpanStore, dict[str, list[str]]], dict[str, Any]]


class LiveRoute:
    """The route, with its cache of the last answer (one entry: memory stays bounded).

    Args:
        compute: Builds the answer for a query (its exceptions pass through, nothing is cached then).
        clock: Monotonic seconds (a parameter for tests).
    """

    #: The query API does not make the collector load pending spans first: the page polls anyway, and a poll
    #: answered from the cache then costs nothing.
    sync = False

    def __init__(self, compute: Compute, clock: Callable[[], float] = time.monotonic) -> None:
        self._compute = compute
        self._clock = clock
        self._lock = threading.Lock()
        self._last: tuple[tuple[tuple[str, tuple[str, ...]], ...], float, float, dict[str, Any]] | None = None

    def __call__(self, reader: SpanStore, query: dict[str, list[str]]) -> dict[str, Any]:
        key = tuple(sorted((name, tuple(values)) for name, values in query.items()))
        with self._lock:  # one computation at a time; waiting polls then find its answer fresh
            now = self._clock()
            if self._last is not None and self._last[0] == key:
                _, done, cost, answer = self._last
                if now - done < max(MIN_AGE_S, cost / MAX_DUTY):
                    return {**answer, "age_s": round(now - done, 3)}
            answer = self._compute(reader, query)
            done = self._clock()
            answer["cost_s"] = round(done - now, 3)
            answer["next_in_s"] = round(max(MIN_AGE_S, (done - now) / MAX_DUTY), 3)
            self._last = (key, done, done - now, answer)
            return {**answer, "age_s": 0.0}
