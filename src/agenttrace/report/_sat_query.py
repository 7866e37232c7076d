"""The SQL behind the saturation analysis: in-flight requests by a sweep, stage calls and requests per bin.

Everything is pushed down to DuckDB over the view ``run_spans`` (one run's spans). The number of requests in
flight at an instant comes from one sweep: +1 at each request start, -1 at each end, a running sum ordered by
time; a span then finds the level in force when it started with an ASOF JOIN (the latest event at or before
its start), never a self-join of requests, so the cost grows as n log n. A stage span belongs to the request
of its trace whose interval holds its start (a hash join on the trace); nested request spans in one trace
(which ``REQUEST_FILTER`` should not produce) would count its calls once per request.

The work that does not depend on the bins is done once (``PREPARE``) into temporary tables: the sweep
(``sat_levels``), each request with its level (``sat_requests``), each stage call with its request and its own
level (``sat_calls``) and each request's time per stage (``sat_request_stages``); the per-bin queries then
only group those. Traces and requests are joined on 64-bit hashes of their ids (``hash(trace_id)``,
``hash(trace_id, span_id)``): several times faster than the strings, and a collision (odds ~n^2/2^64) would
only move one request's calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from agenttrace.report.data import REQUEST_FILTER

# A request: the span the middleware opens (SERVER) or an ``agenttrace.request`` span (it has the roll-up).


class RunSource(Protocol):
    """What the analysis needs from a run: SQL over a connection that has the view ``run_spans``."""

    def sql(self, query: str, params: Sequence[object] = ...) -> Any:
        """Run ``query``; the result is a list of row tuples or a DuckDB result with ``fetchall()``."""


#: Statements creating the bin-independent temporary tables, in order (``CLEANUP`` drops them).
PREPARE = (
    # The in-flight level after every instant something starts or ends, and how long it lasted.
    f"""
CREATE OR REPLACE TEMP TABLE sat_levels AS
WITH req AS (
    SELECT start_ns, end_ns FROM run_spans
    WHERE {REQUEST_FILTER} AND start_ns IS NOT NULL AND end_ns >= start_ns
),
events AS (
    SELECT t, sum(d) AS d FROM (
        SELECT start_ns AS t, 1 AS d FROM req UNION ALL SELECT end_ns AS t, -1 AS d FROM req
    ) GROUP BY t
)
SELECT t, sum(d) OVER (ORDER BY t) AS in_flight, lead(t) OVER (ORDER BY t) - t AS lasted_ns FROM events""",
    # Each request's level at its start (itself included).
    f"""
CREATE OR REPLACE TEMP TABLE sat_requests AS
SELECT hash(r.trace_id, r.span_id) AS request, hash(r.trace_id) AS trace, r.start_ns, r.end_ns,
    l.in_flight AS concurrency
FROM (SELECT trace_id, span_id, start_ns, end_ns FROM run_spans
      WHERE {REQUEST_FILTER} AND start_ns IS NOT NULL AND end_ns >= start_ns) r
ASOF JOIN sat_levels l ON r.start_ns >= l.t""",
    # Each stage call with its request (and that request's level) and the level when the call started.
    """
CREATE OR REPLACE TEMP TABLE sat_calls AS
SELECT r.request, r.concurrency AS request_concurrency, s.stage, s.start_ns, s.end_ns, l.in_flight AS concurrency
FROM (SELECT hash(trace_id) AS trace, stage, start_ns, end_ns FROM run_spans
      WHERE stage IS NOT NULL AND start_ns IS NOT NULL AND end_ns >= start_ns) s
JOIN sat_requests r ON s.trace = r.trace AND s.start_ns BETWEEN r.start_ns AND r.end_ns
ASOF JOIN sat_levels l ON s.start_ns >= l.t""",
    # Each request's time in each stage it ran: ``wall`` is the time at least one call of the stage was running
    # (the union of its calls: the sum of sequential calls, the longest of parallel ones); ``total`` is the sum
    # of the calls' durations.
    """
CREATE OR REPLACE TEMP TABLE sat_request_stages AS
WITH ordered AS (
    SELECT request, request_concurrency, stage, start_ns, end_ns,
           max(end_ns) OVER (PARTITION BY request, stage ORDER BY start_ns, end_ns
                             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS covered_until
    FROM sat_calls
)
SELECT request, any_value(request_concurrency) AS request_concurrency, stage,
       sum(greatest(0, end_ns - greatest(start_ns, coalesce(covered_until, start_ns)))) AS wall_ns,
       wall_ns / 1e6 AS wall,
       sum(end_ns - start_ns) / 1e6 AS total
FROM ordered GROUP BY request, stage""",
)

#: Statements dropping what ``PREPARE`` created.
CLEANUP = tuple(
    f"DROP TABLE IF EXISTS {name}" for name in ("sat_request_stages", "sat_calls", "sat_requests", "sat_levels")
)

CONCURRENCY_HISTOGRAM = "SELECT concurrency, count(*) FROM sat_requests GROUP BY 1 ORDER BY 1"


def bin_case(lows: Sequence[int], column: str) -> str:
    """SQL: the bin of concurrency ``column`` (bin ``i`` holds ``lows[i]`` to the next low - 1; NULL below)."""
    cases = " ".join(f"WHEN {column} >= {int(low)} THEN {index}" for index, low in reversed(list(enumerate(lows))))
    return f"(CASE {cases} END)"


def bin_requests_sql(lows: Sequence[int]) -> str:
    """Per bin: requests, latency p50/p95/mean (ms), observed concurrency min/median/max, seconds at the level.

    Means and sums add integer nanoseconds (exact, so the same in any order and on any engine), then divide.
    """
    return f"""
WITH seconds AS (
    SELECT {bin_case(lows, "in_flight")} AS bin, sum(lasted_ns) / 1e9 AS s FROM sat_levels
    WHERE in_flight > 0 AND {bin_case(lows, "in_flight")} IS NOT NULL GROUP BY 1
),
req_bin AS (
    SELECT start_ns, end_ns, concurrency, {bin_case(lows, "concurrency")} AS bin FROM sat_requests
)
SELECT rb.bin, count(*), quantile_cont((end_ns - start_ns) / 1e6, [0.5, 0.95]),
       sum(end_ns - start_ns) / count(*) / 1e6,
       min(concurrency), quantile_disc(concurrency, 0.5), max(concurrency), any_value(seconds.s),
       sum(end_ns - start_ns) / 1e6
FROM req_bin rb LEFT JOIN seconds USING (bin) WHERE rb.bin IS NOT NULL GROUP BY rb.bin ORDER BY rb.bin"""


def stage_calls_sql(lows: Sequence[int]) -> str:
    """Per bin (in-flight requests at the call's start) and stage: calls, duration p50/p95/mean (ms)."""
    return f"""
SELECT bin, stage, count(*), quantile_cont((end_ns - start_ns) / 1e6, [0.5, 0.95]),
       sum(end_ns - start_ns) / count(*) / 1e6
FROM (SELECT {bin_case(lows, "concurrency")} AS bin, stage, start_ns, end_ns FROM sat_calls
      WHERE {bin_case(lows, "request_concurrency")} IS NOT NULL)
WHERE bin IS NOT NULL GROUP BY bin, stage ORDER BY bin, stage"""


def stage_requests_sql(lows: Sequence[int]) -> str:
    """Per bin (of the request) and stage: the stage's time per request (``wall`` and ``total``: ``PREPARE``)."""
    return f"""
SELECT bin, stage, count(*), quantile_cont(wall, [0.5, 0.95]), sum(wall_ns) / count(*) / 1e6, sum(wall_ns) / 1e6,
       quantile_cont(total, 0.95)
FROM (SELECT {bin_case(lows, "request_concurrency")} AS bin, stage, wall, wall_ns, total FROM sat_request_stages)
WHERE bin IS NOT NULL GROUP BY bin, stage ORDER BY bin, stage"""
