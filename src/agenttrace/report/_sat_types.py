"""Result types of the saturation analysis (JSON-ready; milliseconds rounded to 0.001, shares to 0.0001)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass(frozen=True)
class Bottleneck:
    """The verdict: the stage that saturates, the service process, or none.

    Attributes:
        kind: ``"stage"``, ``"process"`` (every stage gains alike: the process itself saturates) or ``"none"``.
        stage: The stage named by a ``"stage"`` verdict, else None.
        reason: One sentence with the evidence.
    """

    kind: Literal["stage", "process", "none"]
    stage: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        """``{"kind", "stage", "reason"}``."""
        return {"kind": self.kind, "stage": self.stage, "reason": self.reason}


@dataclass(frozen=True)
class StageBin:
    """One stage in one concurrency bin.

    Per call (binned by the in-flight requests at the call's start): ``calls``, ``call_p50_ms``,
    ``call_p95_ms``, ``call_mean_ms``, ``call_added_ms`` (mean over the lowest bin's). Per request (binned by
    the request): ``requests`` that ran the stage, ``p50_ms``/``p95_ms``/``mean_ms`` of the time the request
    spent in the stage (sum of sequential calls, the longest of parallel ones), ``total_p95_ms`` (sum of the
    calls' durations), ``added_ms`` (mean over the lowest bin's). ``in_flight``: Little's law, calls per second
    x mean call time; ``queued``: the same for the added time (calls waiting, on average).
    ``critical_path_share``: the stage's share of the bin's request time.
    """

    stage: str
    calls: int
    call_p50_ms: float
    call_p95_ms: float
    call_mean_ms: float
    requests: int
    p50_ms: float
    p95_ms: float
    total_p95_ms: float
    mean_ms: float
    added_ms: float | None
    call_added_ms: float | None
    in_flight: float
    queued: float | None
    critical_path_share: float

    def with_share(self, share: float) -> StageBin:
        """A copy with ``critical_path_share`` set."""
        return dataclasses.replace(self, critical_path_share=share)

    def to_json(self) -> dict[str, Any]:
        """The JSON form (field names as above)."""
        return {
            "stage": self.stage,
            "calls": self.calls,
            "call_p50_ms": _ms(self.call_p50_ms),
            "call_p95_ms": _ms(self.call_p95_ms),
            "call_added_ms": _ms(self.call_added_ms),
            "requests": self.requests,
            "p50_ms": _ms(self.p50_ms),
            "p95_ms": _ms(self.p95_ms),
            "total_p95_ms": _ms(self.total_p95_ms),
            "added_ms": _ms(self.added_ms),
            "in_flight": _ms(self.in_flight),
            "queued": _ms(self.queued),
            "critical_path_share": round(self.critical_path_share, 4),
        }


@dataclass(frozen=True)
class ConcurrencyBin:
    """Requests that started while ``low``..``high`` requests were in flight (``concurrency``: the median).

    ``range_low``/``range_high`` are the bin's edges (None: no upper edge); ``seconds`` the run's time at those
    levels; ``throughput`` requests started per second at them; latency over the bin's requests.
    """

    low: int
    high: int
    concurrency: int
    range_low: int
    range_high: int | None
    requests: int
    seconds: float
    throughput: float
    p50_ms: float
    p95_ms: float
    mean_ms: float
    stages: tuple[StageBin, ...]

    def stage(self, name: str) -> StageBin | None:
        """The bin's entry for stage ``name``, if the stage ran in it."""
        return next((item for item in self.stages if item.stage == name), None)

    def to_json(self) -> dict[str, Any]:
        """The JSON form (field names as above)."""
        return {
            "low": self.low,
            "high": self.high,
            "concurrency": self.concurrency,
            "range": [self.range_low, self.range_high],
            "requests": self.requests,
            "seconds": _ms(self.seconds),
            "throughput": _ms(self.throughput),
            "p50_ms": _ms(self.p50_ms),
            "p95_ms": _ms(self.p95_ms),
            "stages": [item.to_json() for item in self.stages],
        }


@dataclass(frozen=True)
class StageGrowth:
    """One stage from the lowest to the highest bin.

    Attributes:
        stage: The stage.
        low_p95_ms: p95 of the per-request time in the stage in the lowest bin.
        high_p95_ms: The same in the highest bin.
        growth: ``high_p95_ms / low_p95_ms``.
        added_ms: Mean per-request time in the stage added in the highest bin.
        call_added_ms: Mean per-call time added in the highest bin.
        low_share: Share of the request time in the lowest bin.
        high_share: The same in the highest bin.
        judged: Whether both bins have enough of the stage to judge it.
    """

    stage: str
    low_p95_ms: float
    high_p95_ms: float
    growth: float
    added_ms: float
    call_added_ms: float
    low_share: float
    high_share: float
    judged: bool

    def to_json(self) -> dict[str, Any]:
        """The JSON form (field names as above)."""
        return {
            "stage": self.stage,
            "low_p95_ms": _ms(self.low_p95_ms),
            "high_p95_ms": _ms(self.high_p95_ms),
            "growth": round(self.growth, 3),
            "added_ms": _ms(self.added_ms),
            "call_added_ms": _ms(self.call_added_ms),
            "low_share": round(self.low_share, 4),
            "high_share": round(self.high_share, 4),
            "judged": self.judged,
        }
