"""The report's span queries in ClickHouse SQL: the same result rows as the DuckDB queries of the same name.

Each query reads ``run_spans``, a CTE the source puts in front (``clickhouse.ClickHouseSpans``): one run's spans of
the exporter's ``otel_traces`` with the span store's column names (``end_ns`` included). The DuckDB twin of each
query is named in its docstring line below; the filters (``REQUEST_FILTER``, ``LLM_SPAN``...) are the same text.
Differences of dialect: ``quantile_cont`` is written out (:func:`quantiles`; ClickHouse's ``quantilesExactInclusive``
differs in the last bit), ``count(*) FILTER`` is ``countIf``, ids are joined as strings (no 64-bit hash), and
ClickHouse's ASOF JOIN wants an equality, so levels and spans carry a constant key ``k``. A window aggregate over
an empty frame is 0 here (NULL in DuckDB); every such use takes the greater of it and a positive time, so the
result is the same. Queries run with ``join_use_nulls = 1``: an outer join's missing side is NULL, as in DuckDB.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from agenttrace.report._sat_query import bin_case
from agenttrace.report.data import REQUEST_FILTER, sql_literal
from agenttrace.report.stages import LLM_SPAN, RATE_LIMITED_STAGE

#: Settings every query runs with.
SETTINGS = "SETTINGS join_use_nulls = 1, output_format_arrow_string_as_string = 1"


def quantiles(expr: str, levels: Sequence[float]) -> str:
    """SQL: DuckDB's ``quantile_cont(expr, [levels])``, to the last bit, as an array (NULL for no values).

    ClickHouse's ``quantilesExactInclusive`` is the same interpolation in exact arithmetic, but not in floating point
    (it takes the rank as ``level * (n - 1) + 1`` and returns ``lo + (hi - lo) * d``: 950.0 where DuckDB says
    949.9999999999999). DuckDB's, written out here over the sorted values (what an exact quantile keeps anyway):
    ``rank = (n - 1) * level``, ``d = rank - floor(rank)``, ``lo * (1 - d) + hi * d`` (``lo`` alone when ``d`` is 0).
    """
    rank = "(length(a) - 1) * q"
    lo, hi = f"a[toUInt64(floor({rank})) + 1]", f"a[toUInt64(ceil({rank})) + 1]"
    d = f"({rank} - floor({rank}))"
    value = f"if(floor({rank}) = ceil({rank}), {lo}, {lo} * (1.0 - {d}) + {hi} * {d})"
    listed = ", ".join(repr(float(level)) for level in levels)
    return (
        f"arrayMap(a -> if(empty(a), NULL, arrayMap(q -> {value}, [{listed}])), "
        f"[arraySort(groupArray(toFloat64({expr})))])[1]"
    )


def quantile(expr: str, level: float) -> str:
    """SQL: DuckDB's ``quantile_cont(expr, level)`` (see :func:`quantiles`)."""
    return f"{quantiles(expr, [level])}[1]"


_LIMITED = f"coalesce({RATE_LIMITED_STAGE}, false)"

#: ``stages._STAGE_SQL``: per stage, calls, duration and self-time percentiles, errors and 429s.
STAGE_CALLS = f"""WITH st AS (
    SELECT trace_id, span_id, parent_span_id, stage, start_ns, end_ns, duration_ns, status_code, {_LIMITED} AS limited
    FROM run_spans WHERE stage IS NOT NULL
),
kids AS (
    SELECT c.trace_id AS trace, c.parent_span_id AS pid, greatest(c.start_ns, p.start_ns) AS s,
        least(c.end_ns, p.end_ns) AS e
    FROM st AS c INNER JOIN st AS p ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id
),
ordered AS (
    SELECT trace, pid, s, e,
        max(e) OVER (PARTITION BY trace, pid ORDER BY s, e ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
    FROM kids WHERE e > s
),
covered AS (
    SELECT trace, pid, sum(greatest(e - greatest(s, reach), 0)) AS covered_ns FROM ordered GROUP BY trace, pid
)
SELECT stage, count(), {quantiles("duration_ns", [0.5, 0.95, 0.99])},
    {quantile("duration_ns - coalesce(covered_ns, 0)", 0.95)},
    countIf(status_code = 'ERROR' AND NOT limited), countIf(limited)
FROM st LEFT JOIN covered ON covered.trace = st.trace_id AND covered.pid = st.span_id
GROUP BY stage"""

#: ``stages._PER_REQUEST_SQL``: per stage, calls per request (zeros included), time and tokens per request.
STAGE_PER_REQUEST = f"""WITH per_trace AS (
    SELECT trace_id, stage, count() AS calls, sum(duration_ns) AS busy_ns,
        coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(output_tokens), 0) AS output_tokens
    FROM run_spans WHERE stage IS NOT NULL GROUP BY trace_id, stage
),
traces AS (SELECT DISTINCT trace_id FROM run_spans WHERE {REQUEST_FILTER}),
per AS (SELECT * FROM per_trace WHERE trace_id IN (SELECT trace_id FROM traces)),
grid AS (
    SELECT traces.trace_id AS trace, names.stage AS name
    FROM traces CROSS JOIN (SELECT DISTINCT stage FROM per) AS names
)
SELECT grid.name, sum(coalesce(per.calls, 0)), {quantile("coalesce(per.calls, 0)", 0.5)},
    max(coalesce(per.calls, 0)), {quantile("per.busy_ns", 0.95)}, sum(coalesce(per.input_tokens, 0)),
    sum(coalesce(per.output_tokens, 0))
FROM grid LEFT JOIN per ON per.trace_id = grid.trace AND per.stage = grid.name
GROUP BY grid.name"""

_DISTRIBUTIONS = ", ".join(f"avg({c}), {quantiles(c, [0.5, 0.95])}, max({c})" for c in ("llm", "tool", "inp", "outp"))

#: ``costs._COSTS_SQL``: per-request LLM/tool calls and tokens (roll-up, else counted from the trace's stages).
COSTS = f"""WITH counted AS (
    SELECT trace_id, toInt64(countIf({LLM_SPAN})) AS llm_calls,
        toInt64(countIf(gen_ai_operation = 'execute_tool')) AS tool_calls,
        sumIf(input_tokens, {LLM_SPAN}) AS input_tokens, sumIf(output_tokens, {LLM_SPAN}) AS output_tokens
    FROM run_spans WHERE stage IS NOT NULL GROUP BY trace_id
),
requests AS (SELECT trace_id, llm_calls, tool_calls, input_tokens, output_tokens FROM run_spans WHERE {REQUEST_FILTER}),
per AS (
    SELECT coalesce(r.llm_calls, c.llm_calls, 0) AS llm, coalesce(r.tool_calls, c.tool_calls, 0) AS tool,
        coalesce(r.input_tokens, c.input_tokens, 0) AS inp, coalesce(r.output_tokens, c.output_tokens, 0) AS outp
    FROM requests AS r LEFT JOIN counted AS c ON c.trace_id = r.trace_id
)
SELECT {_DISTRIBUTIONS} FROM per"""

_FAILED = "(status_code = 'ERROR' OR error_type IS NOT NULL)"

#: ``costs._MODEL_SQL``: model retries (failed calls followed by another under the same parent) and model 429s.
MODEL_RETRIES = f"""SELECT sum(toInt64(failed) - if(last_failed, 1, 0)), sum(limited)
FROM (
    SELECT countIf({_FAILED} AND start_ns IS NOT NULL) AS failed, countIf({_LIMITED}) AS limited,
        argMaxIf(coalesce({_FAILED}, false), (start_ns, span_id), start_ns IS NOT NULL) AS last_failed
    FROM run_spans WHERE {LLM_SPAN} GROUP BY trace_id, parent_span_id
)"""

#: ``stages.CRITICAL_PATH_SPANS_SQL``: the spans of the sampled traces (up to ``last`` by trace id).
CRITICAL_PATH_SPANS = """SELECT trace_id, span_id, parent_span_id, start_ns, end_ns, stage FROM run_spans
WHERE trace_id <= {last:String} ORDER BY trace_id"""


def stage_series(stages: Sequence[str]) -> str:
    """``series._stages_sql``: per followed stage and time bucket, the calls' duration p50 and p95."""
    bucket = "least(greatest(intDiv((start_ns - {first:Int64}) * {n:Int64}, {wall:Int64}), 0), {n:Int64} - 1)"
    return f"""SELECT stage, {bucket} AS i, {quantiles("duration_ns", [0.5, 0.95])} FROM run_spans
WHERE stage IN ({", ".join(map(sql_literal, stages))})
    AND start_ns BETWEEN {{first:Int64}} AND {{first:Int64}} + {{wall:Int64}}
GROUP BY stage, i"""


def stage_samples(cap: int) -> str:
    """``samples``' stage query: per stage, the calls and the first ``cap`` durations by (md5(trace id), span id)."""
    return f"""SELECT stage, count(),
    arrayMap(x -> x.3, groupArraySorted({int(cap)})((lower(hex(MD5(trace_id))), span_id, duration_ns)))
FROM run_spans WHERE stage IS NOT NULL GROUP BY stage ORDER BY stage"""


# ``_sat_query.PREPARE`` as CTEs: the in-flight levels, each request's level, each stage call with its request and
# its level, each request's time per stage. Requests are (trace id, span id) pairs.
_SATURATION = f"""WITH req AS (
    SELECT 0 AS k, trace_id, span_id, start_ns, end_ns FROM run_spans WHERE {REQUEST_FILTER} AND end_ns >= start_ns
),
events AS (
    SELECT t, sum(d) AS d FROM (SELECT start_ns AS t, 1 AS d FROM req UNION ALL SELECT end_ns AS t, -1 AS d FROM req)
    GROUP BY t
),
sat_levels AS (SELECT 0 AS k, t, sum(d) OVER (ORDER BY t) AS in_flight FROM events),
sat_requests AS (
    SELECT r.trace_id AS r_trace, r.span_id AS r_span, r.start_ns AS r_start, r.end_ns AS r_end, l.in_flight AS r_level
    FROM req AS r ASOF JOIN sat_levels AS l ON r.k = l.k AND r.start_ns >= l.t
),
sat_calls AS (
    SELECT r.r_trace AS trace, r.r_span AS request, r.r_level AS request_concurrency, s.stage AS stage,
        s.start_ns AS start_ns, s.end_ns AS end_ns, l.in_flight AS concurrency
    FROM (
        SELECT 0 AS k, trace_id, stage, start_ns, end_ns FROM run_spans WHERE stage IS NOT NULL AND end_ns >= start_ns
    ) AS s
    INNER JOIN sat_requests AS r ON s.trace_id = r.r_trace
    ASOF JOIN sat_levels AS l ON s.k = l.k AND s.start_ns >= l.t
    WHERE s.start_ns >= r.r_start AND s.start_ns <= r.r_end
),
sat_request_stages AS (
    SELECT trace, request, any(request_concurrency) AS request_concurrency, stage,
        sum(greatest(0, end_ns - greatest(start_ns, covered_until))) AS wall_ns,
        wall_ns / 1e6 AS wall,
        sum(end_ns - start_ns) / 1e6 AS total
    FROM (
        SELECT trace, request, request_concurrency, stage, start_ns, end_ns,
            max(end_ns) OVER (PARTITION BY trace, request, stage ORDER BY start_ns, end_ns
                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS covered_until
        FROM sat_calls
    ) GROUP BY trace, request, stage
)"""


def sat_stage_calls(lows: Sequence[int]) -> str:
    """``_sat_query.stage_calls_sql``: per bin and stage, calls and their duration p50/p95/mean (ms)."""
    return f"""{_SATURATION}
SELECT bin, stage, count(), {quantiles("(end_ns - start_ns) / 1e6", [0.5, 0.95])},
    sum(end_ns - start_ns) / count() / 1e6
FROM (SELECT {bin_case(lows, "concurrency")} AS bin, stage, start_ns, end_ns FROM sat_calls
      WHERE {bin_case(lows, "request_concurrency")} IS NOT NULL)
WHERE bin IS NOT NULL GROUP BY bin, stage ORDER BY bin, stage"""


def sat_stage_requests(lows: Sequence[int]) -> str:
    """``_sat_query.stage_requests_sql``: per bin and stage, the stage's time per request."""
    return f"""{_SATURATION}
SELECT bin, stage, count(), {quantiles("wall", [0.5, 0.95])}, sum(wall_ns) / count() / 1e6, sum(wall_ns) / 1e6,
    {quantile("total", 0.95)}
FROM (SELECT {bin_case(lows, "request_concurrency")} AS bin, stage, wall, wall_ns, total FROM sat_request_stages)
WHERE bin IS NOT NULL GROUP BY bin, stage ORDER BY bin, stage"""


#: Every span query the report names (``RunData.span_rows``): its ClickHouse SQL, from the values it is rendered with.
QUERIES: dict[str, Callable[..., str]] = {
    "stage_calls": lambda: STAGE_CALLS,
    "stage_per_request": lambda: STAGE_PER_REQUEST,
    "costs": lambda: COSTS,
    "model_retries": lambda: MODEL_RETRIES,
    "critical_path_spans": lambda: CRITICAL_PATH_SPANS,
    "stage_series": stage_series,
    "stage_samples": stage_samples,
    "sat_stage_calls": sat_stage_calls,
    "sat_stage_requests": sat_stage_requests,
}


def render(name: str, run_spans: str, values: dict[str, Any]) -> str:
    """The full ClickHouse query ``name``: ``run_spans`` (a SELECT) as its first CTE, then the query, then settings."""
    body = QUERIES[name](**values)
    head = f"WITH run_spans AS (\n{run_spans}\n)"
    query = f"{head},\n{body.removeprefix('WITH ')}" if body.startswith("WITH ") else f"{head}\n{body}"
    return f"{query}\n{SETTINGS}"
