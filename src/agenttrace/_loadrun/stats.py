"""Per-stage statistics of a load run, built from ``Server-Timing`` and mergeable across Locust workers.

Durations go into bucketed histograms (0.1 ms below 10 ms, three significant digits above, like Locust's own
response-time rounding), so merging two workers' data is adding counts, and the percentiles of the merged
data are exact up to the bucket width. Everything crosses the wire as plain lists, dicts and numbers.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any

from agenttrace.servertiming import ServerTiming, parse_server_timing, scan_canonical

#: How many slowest requests and failed requests keep their trace ids.
KEEP_TRACES = 10
#: The row name of the server's own time to the response headers (``total`` in Server-Timing).
TOTAL_ROW = "total"


def bucket(ms: float) -> int:
    """The histogram key of a duration: tenths of a millisecond, rounded to the bucket's precision."""
    if ms < 100:  # 0.1 ms steps: exact below 10 ms, three significant digits up to 100 ms
        return max(0, round(ms * 10))
    if ms < 1000:
        return round(ms) * 10
    digits = 2 - int(math.floor(math.log10(ms)))  # three significant digits
    return round(round(ms, digits) * 10)


def percentile(histogram: dict[int, int], count: int, fraction: float) -> float:
    """The duration (ms) at or below which ``fraction`` of the ``count`` samples in ``histogram`` lie."""
    if count <= 0:
        return 0.0
    wanted = max(1, math.ceil(count * fraction))
    seen = 0
    for key in sorted(histogram):
        seen += histogram[key]
        if seen >= wanted:
            return key / 10
    return max(histogram) / 10


@dataclass
class StageStats:
    """One stage over many requests: in how many it ran, its calls, and its per-request time histogram."""

    requests: int = 0
    calls: int = 0
    sum_ms: float = 0.0
    max_ms: float = 0.0
    histogram: dict[int, int] = field(default_factory=dict)

    def add(self, dur_ms: float, calls: int) -> None:
        """Account one request in which the stage took ``dur_ms`` in ``calls`` calls."""
        self.add_counted({dur_ms: 1}, 1, calls)

    def add_counted(self, durations: dict[float, int], requests: int, calls: int) -> None:
        """Account ``requests`` requests at once: ``durations`` counts each duration's requests."""
        self.requests += requests
        self.calls += calls
        histogram = self.histogram
        for ms, n in durations.items():
            self.sum_ms += ms * n
            if ms > self.max_ms:
                self.max_ms = ms
            key = round(ms * 10) if 0 <= ms < 100 else bucket(ms)  # bucket(), inlined for the usual case
            histogram[key] = histogram.get(key, 0) + n

    def merge(self, other: StageStats) -> None:
        """Add another worker's data for the same stage."""
        self.requests += other.requests
        self.calls += other.calls
        self.sum_ms += other.sum_ms
        self.max_ms = max(self.max_ms, other.max_ms)
        for key, n in other.histogram.items():
            self.histogram[key] = self.histogram.get(key, 0) + n

    def percentile(self, fraction: float) -> float:
        """The per-request duration (ms) at ``fraction`` (0.5, 0.95, 0.99)."""
        return percentile(self.histogram, self.requests, fraction)

    def to_wire(self) -> list[Any]:
        """A plain form for Locust's worker messages."""
        return [self.requests, self.calls, self.sum_ms, self.max_ms, [[k, n] for k, n in self.histogram.items()]]

    @classmethod
    def from_wire(cls, data: list[Any]) -> StageStats:
        """The inverse of :meth:`to_wire`."""
        requests, calls, sum_ms, max_ms, histogram = data
        return cls(int(requests), int(calls), float(sum_ms), float(max_ms), {int(k): int(n) for k, n in histogram})


@dataclass(order=True, frozen=True)
class TracedRequest:
    """A request whose trace id is kept: the slowest, or a failed one."""

    response_time_ms: float
    name: str
    trace_id: str
    error: str = ""


@dataclass
class RunStats:
    """All agenttrace statistics of one load run (or, on a worker, since its last report)."""

    #: Requests that answered with agenttrace's Server-Timing (the denominator of every per-request figure).
    requests: int = 0
    llm_calls: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    stages: dict[str, StageStats] = field(default_factory=dict)
    total: StageStats = field(default_factory=StageStats)
    slowest: list[TracedRequest] = field(default_factory=list)  # a min-heap of at most KEEP_TRACES
    failed: list[TracedRequest] = field(default_factory=list)
    failures: int = 0
    #: A request that did not fail and took no longer than this is not among the slowest (-inf until
    #: KEEP_TRACES are kept): one comparison per request decides, for the load generator's hot path.
    slowest_floor: float = field(default=-math.inf, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._update_floor()

    def _update_floor(self) -> None:
        self.slowest_floor = self.slowest[0].response_time_ms if len(self.slowest) >= KEEP_TRACES else -math.inf

    def add(self, timing: ServerTiming) -> None:
        """Account one response's Server-Timing."""
        self.requests += 1
        self.llm_calls += timing.llm_calls
        self.tool_calls += timing.tool_calls
        self.input_tokens += timing.input_tokens
        self.output_tokens += timing.output_tokens
        stages = self.stages
        for name, stage in timing.stages.items():
            found = stages.get(name)
            if found is None:
                found = stages[name] = StageStats()
            found.add(stage.dur_ms, stage.calls)
        if timing.total_ms is not None:
            self.total.add(timing.total_ms, 1)

    def add_header(self, value: str) -> None:
        """Account one response's ``Server-Timing`` value (the one-by-one way; ``_loadrun.batch`` reads many).

        The middleware's own form goes straight into the histograms (:func:`~agenttrace.servertiming.scan_canonical`,
        no objects built); any other form goes through :func:`~agenttrace.servertiming.parse_server_timing`, with
        the same result.
        """
        scanned = scan_canonical(value)
        if scanned is None:
            self.add(parse_server_timing(value))
            return
        found, costs, total, _ = scanned
        self.requests += 1
        self.llm_calls += costs[0]
        self.tool_calls += costs[1]
        self.input_tokens += costs[2]
        self.output_tokens += costs[3]
        stages = self.stages
        seen: dict[str, tuple[float, int]] = {}
        for name, dur, calls in found:
            if name in seen:  # a stage named twice is summed, as the parser does
                before = seen[name]
                seen[name] = (before[0] + dur, before[1] + calls)
            else:
                seen[name] = (dur, calls)
        for name, (dur, calls) in seen.items():
            stage = stages.get(name)
            if stage is None:
                stage = stages[name] = StageStats()
            stage.add(dur, calls)
        if total is not None:
            self.total.add(total, 1)

    def keep_trace(self, request: TracedRequest, failed: bool) -> None:
        """Remember a request's trace id if it failed (the first few) or is among the slowest."""
        if failed:
            self.failures += 1
            if len(self.failed) < KEEP_TRACES:
                self.failed.append(request)
        elif len(self.slowest) < KEEP_TRACES:
            heapq.heappush(self.slowest, request)
            self._update_floor()
        elif request.response_time_ms > self.slowest[0].response_time_ms:
            heapq.heapreplace(self.slowest, request)
            self._update_floor()

    def merge(self, other: RunStats) -> None:
        """Add another worker's statistics."""
        self.requests += other.requests
        self.llm_calls += other.llm_calls
        self.tool_calls += other.tool_calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        for name, stage in other.stages.items():
            self.stages.setdefault(name, StageStats()).merge(stage)
        self.total.merge(other.total)
        self.failures += other.failures
        self.failed = (self.failed + other.failed)[:KEEP_TRACES]
        self.slowest = heapq.nlargest(KEEP_TRACES, self.slowest + other.slowest)
        heapq.heapify(self.slowest)
        self._update_floor()

    def to_wire(self) -> dict[str, Any]:
        """A plain form for Locust's worker messages."""
        return {
            "counts": [self.requests, self.llm_calls, self.tool_calls, self.input_tokens, self.output_tokens],
            "stages": {name: stage.to_wire() for name, stage in self.stages.items()},
            "total": self.total.to_wire(),
            "failures": self.failures,
            "failed": [[t.response_time_ms, t.name, t.trace_id, t.error] for t in self.failed],
            "slowest": [[t.response_time_ms, t.name, t.trace_id, t.error] for t in self.slowest],
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> RunStats:
        """The inverse of :meth:`to_wire`."""
        requests, llm, tool, tokens_in, tokens_out = (int(n) for n in data["counts"])
        slowest = [TracedRequest(float(t), str(n), str(i), str(e)) for t, n, i, e in data["slowest"]]
        heapq.heapify(slowest)
        return cls(
            requests=requests,
            llm_calls=llm,
            tool_calls=tool,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            stages={str(name): StageStats.from_wire(s) for name, s in data["stages"].items()},
            total=StageStats.from_wire(data["total"]),
            slowest=slowest,
            failed=[TracedRequest(float(t), str(n), str(i), str(e)) for t, n, i, e in data["failed"]],
            failures=int(data["failures"]),
        )
