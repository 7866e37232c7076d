"""The run summary: requests, errors and 429s, concurrency, goodput, per scenario and route, notable requests.

Everything is SQL on ``run_requests`` (see ``report.data``). Percentiles are ``quantile_cont``: linear
interpolation between the two nearest ranks.
"""

from __future__ import annotations

from typing import Any

from agenttrace.report.data import RunData
from agenttrace.report.model import Concurrency, Goodput, GroupStats, RequestRef, RunOverview
from agenttrace.report.slo import Slo

#: Points in the concurrency timeline (evenly spaced over the run, both ends included).
TIMELINE_POINTS = 101
#: How many of the slowest and of the failed requests the report lists.
NOTABLE_REQUESTS = 10


def ms(ns: float | None) -> float | None:
    """Nanoseconds to milliseconds, keeping ``None``."""
    return None if ns is None else ns / 1e6


def overview(data: RunData) -> RunOverview:
    """Requests, wall time, rate, errors (429s apart) and concurrency of the run."""
    requests, first, last, errors, limited, busy_ns = data.one(
        "SELECT count(*), min(start_ns), max(end_ns), count(*) FILTER (WHERE failed),"
        " count(*) FILTER (WHERE rate_limited), sum(duration_ns) FROM run_requests"
    )
    wall_ns = (last - first) if requests else 0
    wall_s = wall_ns / 1e9
    return RunOverview(
        run_id=data.run_id,
        requests=requests,
        wall_s=wall_s,
        requests_per_s=requests / wall_s if wall_s > 0 else None,
        errors=errors,
        error_rate=errors / requests if requests else None,
        rate_limited=limited,
        first_ns=first,
        last_ns=last,
        concurrency=concurrency(data, first, wall_ns, busy_ns),
    )


# In-flight requests after each instant at which some request started or ended: a sweep over +1/-1 events
# (ends and starts at the same instant net out: back-to-back requests are not concurrent).
_SWEEP = """
WITH events AS (
    SELECT t, sum(d) AS d FROM (
        SELECT start_ns AS t, 1 AS d FROM run_requests UNION ALL SELECT end_ns, -1 FROM run_requests
    ) GROUP BY t
)
SELECT t, sum(d) OVER (ORDER BY t ROWS UNBOUNDED PRECEDING) AS n FROM events
"""


def concurrency(data: RunData, first_ns: int | None, wall_ns: int, busy_ns: int | None) -> Concurrency:
    """In-flight requests: time-weighted mean (busy time / wall time), maximum, and a timeline."""
    if first_ns is None:
        return Concurrency(None, 0, [])
    (peak,) = data.one(f"SELECT coalesce(max(n), 0) FROM ({_SWEEP})")
    step = wall_ns / (TIMELINE_POINTS - 1)
    rows = data.sql(
        f"""
        WITH sweep AS ({_SWEEP}),
        points AS (SELECT i, CAST($first + i * $step AS BIGINT) AS t FROM range({TIMELINE_POINTS}) r(i))
        SELECT points.i, coalesce(sweep.n, 0) FROM points ASOF LEFT JOIN sweep ON points.t >= sweep.t ORDER BY points.i
        """,
        {"first": first_ns, "step": step},
    )
    timeline = [(round(i * step / 1e9, 6), int(n)) for i, n in rows]
    mean = (busy_ns or 0) / wall_ns if wall_ns > 0 else None
    return Concurrency(mean, int(peak), timeline)


def goodput(data: RunData, slos: list[Slo], wall_s: float) -> list[Goodput]:
    """For each SLO: requests meeting it, their share of all requests and their rate."""
    if not slos:
        return []
    counts = ", ".join(f"count(*) FILTER (WHERE {slo.sql()})" for slo in slos)
    requests, *met = data.one(f"SELECT count(*), {counts} FROM run_requests")
    return [
        Goodput(slo.text, n, n / requests if requests else None, n / wall_s if wall_s > 0 else None)
        for slo, n in zip(slos, met, strict=True)
    ]


def groups(data: RunData, column: str) -> list[GroupStats]:
    """Per value of ``column`` (``scenario`` or ``http_route``): requests, latency and TTFB percentiles, errors."""
    rows = data.sql(
        f"""
        SELECT {column}, count(*), quantile_cont(duration_ns, [0.5, 0.95, 0.99]),
            quantile_cont(ttfb_ns, [0.5, 0.95]), count(*) FILTER (WHERE failed), count(*) FILTER (WHERE rate_limited)
        FROM run_requests GROUP BY {column} ORDER BY count(*) DESC, {column} NULLS LAST
        """
    )
    stats = []
    for name, n, latency, ttfb, errors, limited in rows:
        p50, p95, p99 = _ms_list(latency, 3)
        ttfb_p50, ttfb_p95 = _ms_list(ttfb, 2)
        stats.append(GroupStats(name, n, p50, p95, p99, ttfb_p50, ttfb_p95, errors, limited))
    return stats


def _ms_list(values: list[float] | None, count: int) -> list[float | None]:
    return [ms(v) for v in values] if values else [None] * count


def notable(data: RunData, jaeger_ui: str | None) -> tuple[list[RequestRef], list[RequestRef]]:
    """The slowest requests (longest first) and the first failed ones (in start order)."""
    columns = "trace_id, span_id, name, scenario, http_route, start_ns, duration_ns, http_status_code, error"
    slowest = data.sql(
        f"SELECT {columns} FROM run_requests ORDER BY duration_ns DESC, trace_id LIMIT ?", [NOTABLE_REQUESTS]
    )
    failed = data.sql(
        f"SELECT {columns} FROM run_requests WHERE failed ORDER BY start_ns, trace_id LIMIT ?", [NOTABLE_REQUESTS]
    )
    return [_ref(row, jaeger_ui) for row in slowest], [_ref(row, jaeger_ui) for row in failed]


def _ref(row: tuple[Any, ...], jaeger_ui: str | None) -> RequestRef:
    trace_id, span_id, name, scenario, route, start, duration, status, error = row
    url = f"{jaeger_ui.rstrip('/')}/trace/{trace_id}" if jaeger_ui else None
    return RequestRef(trace_id, span_id, name, scenario, route, start, duration / 1e6, status, error, url)
