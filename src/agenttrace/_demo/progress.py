"""The live progress display: elapsed time, users, requests/s and the per-stage p95 while the load runs.

The figures come from the collector's query API (``GET /api/v1/report?run=ID``, the report the collector
builds from the spans stored so far), polled every :data:`POLL_S` seconds on a thread of its own so a slow
answer never freezes the display. Spans reach the store when their request ends and the service's batch
exporter sends them (every second here), so the figures trail the load by a second or two.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from agenttrace.store import RemoteStore, StoreError

#: Seconds between two reads of the collector.
POLL_S = 2.0


@dataclass(frozen=True)
class Snapshot:
    """What the display shows from one read of the run's report."""

    requests: int
    requests_per_s: float
    rate_limited: int
    errors: int
    stages: list[tuple[str, int, float | None]]  # (stage, calls, p95 ms)


class Poller:
    """Reads the run's report from the collector every :data:`POLL_S` seconds until stopped."""

    def __init__(self, api_url: str, run_id: str) -> None:
        self._store = RemoteStore(api_url)
        self._run_id = run_id
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.snapshot: Snapshot | None = None
        self._last: tuple[float, int] | None = None
        self._thread = threading.Thread(target=self._loop, name="agenttrace-demo-progress", daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (waits for a read in progress)."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                report = self._store.report(self._run_id)
            except StoreError:
                continue  # no request stored yet, or a slow answer: the next poll tries again
            snapshot = self._snapshot(report, time.monotonic())
            with self._lock:
                self.snapshot = snapshot

    def _snapshot(self, report: dict[str, Any], now: float) -> Snapshot:
        requests = int(report.get("requests") or 0)
        if self._last is None:
            rate = float(report.get("requests_per_s") or 0.0)
        else:
            then, before = self._last
            rate = (requests - before) / max(now - then, 1e-3)
        self._last = (now, requests)
        stages = [(str(s["stage"]), int(s.get("calls") or 0), s.get("p95_ms")) for s in report.get("stages") or []]
        return Snapshot(requests, rate, int(report.get("rate_limited") or 0), int(report.get("errors") or 0), stages)


def render(
    title: str, elapsed_s: float, duration_s: float, users: int, top_users: int, snap: Snapshot | None
) -> RenderableType:
    """The display: one status line and the per-stage table."""
    status = Text.assemble(
        (f"{elapsed_s:4.0f} s", "bold"),
        f" of {duration_s:g} s   users ",
        (f"{users}", "bold"),
        f"/{top_users}   ",
    )
    if snap is None:
        status.append("waiting for the first requests to reach the collector...", style="dim")
        return Group(Text(title, style="bold cyan"), status)
    status.append_text(
        Text.assemble(
            "requests ",
            (f"{snap.requests}", "bold"),
            "   ",
            (f"{snap.requests_per_s:.1f}", "bold"),
            " req/s   ",
            f"429s {snap.rate_limited}   errors {snap.errors}",
        )
    )
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("stage")
    table.add_column("calls", justify="right")
    table.add_column("p95 so far", justify="right")
    for stage, calls, p95 in snap.stages:
        table.add_row(stage, str(calls), "-" if p95 is None else f"{p95:,.0f} ms")
    return Group(Text(title, style="bold cyan"), status, table)
