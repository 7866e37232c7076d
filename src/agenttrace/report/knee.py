"""The knee: the concurrency and throughput at which request latency starts to climb (operational analysis).

Operational analysis (Denning and Buzen's asymptotic bounds) says that with ``N`` requests in flight the
throughput is at most ``N / R0`` (every request takes its unloaded time ``R0``) and at most ``X_max`` (what
the slowest resource can serve). The two bounds cross at ``N* = X_max x R0``: below it requests barely wait
and throughput grows with ``N``; above it throughput stays at ``X_max`` and, by Little's law, latency grows as
``N / X_max``. ``R0`` is the mean latency of the lowest concurrency bin and ``X_max`` the highest throughput
of any bin. The knee is reported only when latency does climb and ``N*`` lies inside the loads the run saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

METHOD = "operational analysis"
# Three loads are the fewest that show a rise and a flattening.
KNEE_MIN_BINS = 3
# Latency must rise by half at the highest load; less is noise, and throughput has not hit a ceiling.
KNEE_MIN_LATENCY_RISE = 1.5


@dataclass(frozen=True)
class Knee:
    """Where latency starts to climb, or why no knee was found.

    Attributes:
        status: ``"ok"`` or ``"no_knee"``.
        method: How it was found (``"operational analysis"``).
        reason: One sentence explaining the result.
        concurrency: ``N*``, the in-flight requests at the knee (None without a knee).
        throughput: Requests per second at the knee, ``X_max`` (None without a knee).
        unloaded_ms: ``R0``, the mean latency of the lowest concurrency bin (None with too few bins).
    """

    status: Literal["ok", "no_knee"]
    method: str
    reason: str
    concurrency: float | None = None
    throughput: float | None = None
    unloaded_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON form (field names as above)."""
        return {
            "status": self.status,
            "method": self.method,
            "reason": self.reason,
            "concurrency": None if self.concurrency is None else round(self.concurrency, 3),
            "throughput": None if self.throughput is None else round(self.throughput, 3),
            "unloaded_ms": None if self.unloaded_ms is None else round(self.unloaded_ms, 3),
        }


def find_knee(points: Sequence[tuple[int, float, float]]) -> Knee:
    """Find the knee from per-bin ``(concurrency, throughput per s, mean latency ms)``, lowest load first.

    Example:
        >>> find_knee([(1, 10.0, 100.0), (2, 20.0, 100.0), (8, 40.0, 200.0)]).concurrency
        4.0
    """
    if len(points) < KNEE_MIN_BINS:
        return Knee("no_knee", METHOD, f"needs {KNEE_MIN_BINS} concurrency bins; the run has {len(points)}")
    low_concurrency, _, unloaded_ms = points[0]
    high_concurrency, _, loaded_ms = points[-1]
    if unloaded_ms <= 0 or loaded_ms < KNEE_MIN_LATENCY_RISE * unloaded_ms:
        rise = loaded_ms / unloaded_ms if unloaded_ms > 0 else 1.0
        return Knee(
            "no_knee",
            METHOD,
            f"latency does not climb: the mean request takes {rise:.1f}x as long at {high_concurrency} as at "
            f"{low_concurrency} concurrent requests (a knee needs {KNEE_MIN_LATENCY_RISE:g}x)",
            unloaded_ms=unloaded_ms,
        )
    peak = max(throughput for _, throughput, _ in points)
    knee = peak * unloaded_ms / 1e3
    if not low_concurrency <= knee < high_concurrency:
        return Knee(
            "no_knee",
            METHOD,
            f"the bounds cross at {knee:.1f} concurrent requests, outside the {low_concurrency} to "
            f"{high_concurrency} the run saw",
            unloaded_ms=unloaded_ms,
        )
    return Knee(
        "ok",
        METHOD,
        f"latency starts to climb at about {knee:.1f} concurrent requests and {peak:.1f} requests/s: "
        f"throughput peaks at {peak:.1f} requests/s and an unloaded request takes {unloaded_ms:.0f} ms "
        "(N* = X_max x R0)",
        concurrency=knee,
        throughput=peak,
        unloaded_ms=unloaded_ms,
    )
