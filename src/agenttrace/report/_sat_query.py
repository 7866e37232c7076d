"""The SQL behind the saturation analysis: in-flight requests by a sweep, stage calls and requests per bin.

Everything is pushed down to DuckDB over the view ``run_spans`` (one run's spans). The number of requests in
flight at an instant comes from one sweep: +1 at each request start, -1 at each end, a running sum ordered by
time; a span then finds the level in force when it started with an ASOF JOIN (the latest event at or before
its start), never a self-join of requests, so the cost grows as n log n. A stage span belongs to the request
of its trace whose interval holds its start (a hash join on ``trace_id``); nested request spans in one trace
(which ``REQUEST_FILTER`` should not produce) would count its calls once per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

# A request: the span the middleware opens (SERVER) or an ``agenttrace.request`` span (it has the roll-up).
# Swapped for ``report.data.REQUEST_FILTER`` once that module exists.
REQUEST_FILTER = "(kind = 'SERVER' OR llm_calls IS NOT NULL)"


class RunSource(Protocol):
    """What the analysis needs from a run: SQL over a connection that has the view ``run_spans``."""

    def sql(self, query: str, params: Sequence[object] = ...) -> Any:
        """Run ``query``; the result is a list of row tuples or a DuckDB result with ``fetchall()``."""


def fetch(source: RunSource, query: str) -> list[tuple[Any, ...]]:
    """Rows of ``query`` run on ``source`` (a list of tuples whichever way the source answers)."""
    result = source.sql(query, ())
    rows = result.fetchall() if hasattr(result, "fetchall") else result
    return [tuple(row) for row in rows]


# Requests, the in-flight level after every instant something starts or ends (and how long it lasted), and
# each request's level at its start (itself included).
_REQUESTS = f"""
req AS (
    SELECT trace_id, span_id, start_ns, end_ns FROM run_spans
    WHERE {REQUEST_FILTER} AND start_ns IS NOT NULL AND end_ns >= start_ns
),
events AS (
    SELECT t, sum(d) AS d FROM (
        SELECT start_ns AS t, 1 AS d FROM req UNION ALL SELECT end_ns AS t, -1 AS d FROM req
    ) GROUP BY t
),
level AS (
    SELECT t, sum(d) OVER (ORDER BY t) AS in_flight, lead(t) OVER (ORDER BY t) - t AS lasted_ns FROM events
),
req_level AS (
    SELECT r.trace_id, r.span_id, r.start_ns, r.end_ns, l.in_flight AS concurrency
    FROM req r ASOF JOIN level l ON r.start_ns >= l.t
)"""

CONCURRENCY_HISTOGRAM = f"WITH {_REQUESTS} SELECT concurrency, count(*) FROM req_level GROUP BY 1 ORDER BY 1"


def _with_bins(lows: Sequence[int]) -> str:
    """CTEs shared by the per-bin queries; bin ``i`` holds concurrency from ``lows[i]`` to the next low - 1."""
    values = ", ".join(f"({index}, {int(low)})" for index, low in enumerate(lows))
    return f"""WITH {_REQUESTS},
bins(bin, low) AS (VALUES {values}),
req_bin AS (
    SELECT r.*, b.bin FROM req_level r ASOF JOIN bins b ON r.concurrency >= b.low
),
calls AS (
    SELECT rb.span_id AS request, rb.bin AS request_bin, s.stage, s.start_ns, s.end_ns
    FROM (SELECT trace_id, stage, start_ns, end_ns FROM run_spans
          WHERE stage IS NOT NULL AND start_ns IS NOT NULL AND end_ns >= start_ns) s
    JOIN req_bin rb ON s.trace_id = rb.trace_id AND s.start_ns BETWEEN rb.start_ns AND rb.end_ns
)"""


def bin_requests_sql(lows: Sequence[int]) -> str:
    """Per bin: requests, latency p50/p95/mean (ms), observed concurrency min/median/max, seconds at the level."""
    return (
        _with_bins(lows)
        + """,
seconds AS (
    SELECT b.bin, sum(l.lasted_ns) / 1e9 AS s FROM level l ASOF JOIN bins b ON l.in_flight >= b.low
    WHERE l.in_flight > 0 GROUP BY b.bin
)
SELECT rb.bin, count(*), quantile_cont((end_ns - start_ns) / 1e6, [0.5, 0.95]), avg((end_ns - start_ns) / 1e6),
       min(concurrency), quantile_disc(concurrency, 0.5), max(concurrency), any_value(seconds.s),
       sum((end_ns - start_ns) / 1e6)
FROM req_bin rb LEFT JOIN seconds USING (bin) GROUP BY rb.bin ORDER BY rb.bin"""
    )


def stage_calls_sql(lows: Sequence[int]) -> str:
    """Per bin (in-flight requests at the call's start) and stage: calls, duration p50/p95/mean (ms)."""
    return (
        _with_bins(lows)
        + """
SELECT b.bin, c.stage, count(*), quantile_cont((c.end_ns - c.start_ns) / 1e6, [0.5, 0.95]),
       avg((c.end_ns - c.start_ns) / 1e6)
FROM calls c ASOF JOIN level l ON c.start_ns >= l.t ASOF JOIN bins b ON l.in_flight >= b.low
GROUP BY b.bin, c.stage ORDER BY b.bin, c.stage"""
    )


def stage_requests_sql(lows: Sequence[int]) -> str:
    """Per bin (of the request) and stage: the stage's time per request.

    ``wall`` is the time at least one call of the stage was running (the union of its calls: the sum of
    sequential calls, the longest of parallel ones); ``total`` is the sum of the calls' durations.
    """
    return (
        _with_bins(lows)
        + """,
ordered AS (
    SELECT request, request_bin, stage, start_ns, end_ns,
           max(end_ns) OVER (PARTITION BY request, stage ORDER BY start_ns, end_ns
                             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS covered_until
    FROM calls
),
per_request AS (
    SELECT request, request_bin, stage,
           sum(greatest(0, end_ns - greatest(start_ns, coalesce(covered_until, start_ns)))) / 1e6 AS wall,
           sum(end_ns - start_ns) / 1e6 AS total
    FROM ordered GROUP BY request, request_bin, stage
)
SELECT request_bin, stage, count(*), quantile_cont(wall, [0.5, 0.95]), avg(wall), sum(wall),
       quantile_cont(total, 0.95)
FROM per_request GROUP BY request_bin, stage ORDER BY request_bin, stage"""
    )
