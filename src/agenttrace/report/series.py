"""The run over time: requests/s, in-flight requests, errors, 429s and per-stage latency in equal time buckets.

The buckets cover the run exactly (first request start to last request end): at most ``MAX_BUCKETS`` of them,
none shorter than ``MIN_BUCKET_S`` unless the run itself is shorter. A request or stage call counts in the
bucket in which it started. Mean in-flight per bucket is exact (time-weighted), from per-bucket counts and sums of
request starts and ends: no sort, one pass over ``run_requests``. Stage latency is ``quantile_cont`` of the calls'
durations per bucket.
"""

from __future__ import annotations

import math

from agenttrace.report.data import RunData, sql_literal
from agenttrace.report.model import RunOverview, StageSeries, Timeseries

#: Buckets at most (the series stays small whatever the run's length).
MAX_BUCKETS = 100
#: Shortest bucket, seconds (a short run gets fewer buckets, not noisier ones).
MIN_BUCKET_S = 1.0
#: Stages in the series at most: the first of those given (the report's stages, longest p95 first).
MAX_STAGES = 12


def _bucket(column: str) -> str:
    """SQL: the bucket of the time ``column`` (ns).

    ``$first`` is the run's first request start, ``$wall`` its duration (ns), ``$n`` the bucket count; bucket ``i``
    holds the times ``t`` with ``i * wall / n <= t - first < (i + 1) * wall / n`` (the last also ``t - first = wall``).
    """
    return f"least(greatest(({column} - $first) * $n // $wall, 0), $n - 1)"


# Per bucket: requests started (count, failed, 429s, sum of start offsets) and ended (count, sum of end offsets).
_REQUESTS_SQL = f"""
SELECT 'start', {_bucket("start_ns")} AS i, count(*), count(*) FILTER (WHERE failed),
    count(*) FILTER (WHERE rate_limited), sum(start_ns - $first)
FROM run_requests GROUP BY i
UNION ALL
SELECT 'end', {_bucket("end_ns")} AS i, count(*), 0, 0, sum(end_ns - $first) FROM run_requests GROUP BY i
"""


def _stages_sql(stages: list[str]) -> str:
    """Per followed stage and bucket: the calls' duration p50 and p95 (the stages written in as literals)."""
    return f"""
SELECT stage, {_bucket("start_ns")} AS i, quantile_cont(duration_ns, [0.5, 0.95]) FROM run_spans
WHERE stage IN ({", ".join(map(sql_literal, stages))}) AND start_ns BETWEEN $first AND $first + $wall
GROUP BY stage, i
"""


def timeseries(data: RunData, run: RunOverview, stages: list[str]) -> Timeseries | None:
    """The run in time buckets, or ``None`` when it has no duration (no time axis to draw).

    Args:
        data: The run.
        run: Its overview (first and last instants).
        stages: The stages to follow, most important first (the first ``MAX_STAGES`` are kept).
    """
    if run.first_ns is None or run.last_ns is None or run.last_ns <= run.first_ns:
        return None
    wall = run.last_ns - run.first_ns
    n = max(1, min(MAX_BUCKETS, math.ceil(wall / 1e9 / MIN_BUCKET_S)))
    bucket_s = wall / 1e9 / n
    params = {"first": run.first_ns, "wall": wall, "n": n}
    started, errors, limited, start_sum, ended, end_sum = ([0] * n for _ in range(6))
    for side, i, count, failed, rate_limited, offsets in data.sql(_REQUESTS_SQL, params):
        if side == "start":
            started[i], errors[i], limited[i], start_sum[i] = count, failed, rate_limited, int(offsets)
        else:
            ended[i], end_sum[i] = count, int(offsets)
    followed = stages[:MAX_STAGES]
    series = {stage: StageSeries([None] * n, [None] * n) for stage in followed}
    rows = data.span_rows("stage_series", _stages_sql(followed), params, stages=followed) if followed else []
    for stage, i, (p50, p95) in rows:
        series[stage].p50_ms[i], series[stage].p95_ms[i] = _ms(p50), _ms(p95)
    return Timeseries(
        bucket_s=bucket_s,
        t_s=[round(i * bucket_s, 6) for i in range(n)],
        requests_per_s=[round(count / bucket_s, 6) for count in started],
        in_flight=_in_flight(wall, started, start_sum, ended, end_sum),
        errors=errors,
        rate_limited=limited,
        stages=series,
    )


def _in_flight(
    wall: int, started: list[int], start_sum: list[int], ended: list[int], end_sum: list[int]
) -> list[float]:
    """Mean in-flight requests per bucket, exactly, from per-bucket counts and offset sums of starts and ends.

    The in-flight integral up to edge ``E`` is the sum over requests started before ``E`` of ``E - start`` minus
    the sum over requests ended before ``E`` of ``E - end``. With ``E_k = k * wall / n`` and prefix sums over the
    buckets before ``k``, ``n`` times it is an integer: ``k * wall * (starts - ends) - n * (start sum - end sum)``.
    """
    n = len(started)
    integral = [0]  # n times the integral, at each edge
    count = offsets = 0
    for k in range(1, n + 1):
        count += started[k - 1] - ended[k - 1]
        offsets += start_sum[k - 1] - end_sum[k - 1]
        integral.append(k * wall * count - n * offsets)
    return [round((integral[i + 1] - integral[i]) / wall, 6) for i in range(n)]


def _ms(ns: float) -> float:
    return round(ns / 1e6, 3)
