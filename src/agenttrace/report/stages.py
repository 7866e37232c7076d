"""Per stage: calls per request, duration and self-time percentiles, critical-path share, tokens, errors.

Self time of a stage span is its duration minus the union of its child stage spans' intervals (clipped to it),
so parallel children count once. Per-request figures assume one request per trace (what the middleware and
load generators produce). The critical path (``report.critical_path``) is computed per request in Python, on
at most ``CRITICAL_PATH_SAMPLE`` requests (the first by trace id: random ids make that a fair sample).
"""

from __future__ import annotations

from collections import defaultdict

from agenttrace._names import LLM_OPERATIONS
from agenttrace.report.critical_path import stage_time_on_path
from agenttrace.report.data import RunData, sql_literal
from agenttrace.report.model import StageStats

#: Requests the critical path is computed on at most. A share is a ratio of sums over the sample: with 10,000
#: requests its standard error is a fraction of a percentage point, and the Python walk stays under ~0.4 s.
CRITICAL_PATH_SAMPLE = 10_000

#: SQL: an LLM stage span (a model call).
LLM_SPAN = "(stage IS NOT NULL AND gen_ai_operation IN (" + ", ".join(map(sql_literal, sorted(LLM_OPERATIONS))) + "))"
#: SQL: a stage span the model provider rate-limited.
RATE_LIMITED_STAGE = "(error_type IN ('429', 'RateLimitError') OR http_status_code = 429)"

# Span ids are joined as 64-bit hashes of (trace id, span id): twice as fast as the two strings, and a collision
# (odds ~n^2/2^64) would only move one child's time between parents.
_STAGE_SQL = f"""
WITH st AS (
    SELECT hash(trace_id, span_id) AS id, hash(trace_id, parent_span_id) AS pid, stage, start_ns, end_ns,
        duration_ns, status_code, {RATE_LIMITED_STAGE} IS TRUE AS limited
    FROM run_spans WHERE stage IS NOT NULL
),
kids AS (
    SELECT c.pid, greatest(c.start_ns, p.start_ns) AS s, least(c.end_ns, p.end_ns) AS e
    FROM st c JOIN st p ON c.pid = p.id
),
ordered AS (
    SELECT pid, s, e,
        max(e) OVER (PARTITION BY pid ORDER BY s, e ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
    FROM kids WHERE e > s
),
covered AS (
    SELECT pid, sum(greatest(e - greatest(s, coalesce(reach, s)), 0)) AS covered_ns FROM ordered GROUP BY pid
)
SELECT stage, count(*), quantile_cont(duration_ns, [0.5, 0.95, 0.99]),
    quantile_cont(duration_ns - coalesce(covered_ns, 0), 0.95),
    count(*) FILTER (WHERE status_code = 'ERROR' AND NOT limited), count(*) FILTER (WHERE limited)
FROM st LEFT JOIN covered ON covered.pid = st.id
GROUP BY stage
"""

#: ``run_trace_stages``: per trace (``hash(trace_id)``) and stage, the calls and their time and tokens, and the
#: model and tool calls among them (``costs`` reads it too): one pass over the stage spans for both.
TRACE_STAGES_SQL = f"""
SELECT hash(trace_id) AS trace, stage, count(*) AS calls, sum(duration_ns) AS busy_ns,
    sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
    count(*) FILTER (WHERE {LLM_SPAN}) AS llm_calls,
    count(*) FILTER (WHERE gen_ai_operation = 'execute_tool') AS tool_calls,
    sum(input_tokens) FILTER (WHERE {LLM_SPAN}) AS llm_input_tokens,
    sum(output_tokens) FILTER (WHERE {LLM_SPAN}) AS llm_output_tokens
FROM run_spans WHERE stage IS NOT NULL GROUP BY trace, stage
"""


#: The spans of the traces up to ``$last`` (by trace id), ordered by trace: the critical path's sample.
CRITICAL_PATH_SPANS_SQL = (
    "SELECT trace_id, span_id, parent_span_id, start_ns, end_ns, stage FROM run_spans WHERE trace_id <= $last"
    " ORDER BY trace_id"
)

# Per request (trace) and stage, zeros included for requests that did not run the stage.
_PER_REQUEST_SQL = """
WITH traces AS (SELECT DISTINCT trace FROM run_requests),
per AS (
    SELECT trace, stage, calls, busy_ns, coalesce(input_tokens, 0) AS input_tokens,
        coalesce(output_tokens, 0) AS output_tokens
    FROM run_trace_stages WHERE trace IN (SELECT trace FROM traces)
),
grid AS (
    SELECT traces.trace, names.stage FROM traces CROSS JOIN (SELECT DISTINCT stage FROM per) AS names
)
SELECT grid.stage, sum(coalesce(calls, 0)), quantile_cont(coalesce(calls, 0), 0.5), max(coalesce(calls, 0)),
    quantile_cont(busy_ns, 0.95), sum(coalesce(input_tokens, 0)), sum(coalesce(output_tokens, 0))
FROM grid LEFT JOIN per ON per.trace = grid.trace AND per.stage = grid.stage
GROUP BY grid.stage
"""


def stage_stats(data: RunData, requests: int) -> tuple[list[StageStats], int]:
    """One ``StageStats`` per stage (by p95 duration, longest first), and the requests the critical path used."""
    tables = {"run_trace_stages": TRACE_STAGES_SQL}
    per_request = {row[0]: row[1:] for row in data.span_rows("stage_per_request", _PER_REQUEST_SQL, tables=tables)}
    shares, sampled = critical_path_shares(data)
    stats = []
    for stage, calls, durations, self_p95, errors, limited in data.span_rows("stage_calls", _STAGE_SQL):
        total, calls_p50, calls_max, busy_p95, input_tokens, output_tokens = per_request.get(
            stage, (0, None, None, None, 0, 0)
        )
        p50, p95, p99 = (d / 1e6 for d in durations)
        stats.append(
            StageStats(
                stage=stage,
                calls=calls,
                calls_per_request=total / requests if requests else None,
                calls_per_request_p50=calls_p50,
                calls_per_request_max=calls_max,
                p50_ms=p50,
                p95_ms=p95,
                p99_ms=p99,
                self_p95_ms=self_p95 / 1e6,
                per_request_p95_ms=None if busy_p95 is None else busy_p95 / 1e6,
                critical_path_share=shares.get(stage, 0.0) if sampled else None,
                input_tokens_per_request=input_tokens / requests if requests else None,
                output_tokens_per_request=output_tokens / requests if requests else None,
                errors=errors,
                rate_limited=limited,
            )
        )
    stats.sort(key=lambda s: (-(s.p95_ms or 0.0), s.stage))
    return stats, sampled


def critical_path_shares(data: RunData, sample: int = CRITICAL_PATH_SAMPLE) -> tuple[dict[str, float], int]:
    """Each stage's share of the requests' summed critical-path time, over up to ``sample`` requests.

    Returns:
        ``({stage: share}, requests used)``; the request's own work (outside any stage) is the remainder.
    """
    roots: dict[str, list[str]] = defaultdict(list)
    for trace_id, span_id in data.sql(
        "SELECT trace_id, span_id FROM run_requests ORDER BY trace_id, start_ns, span_id LIMIT ?", [sample]
    ):
        roots[trace_id].append(span_id)
    if not roots:
        return {}, 0
    # The sample is the first requests by trace id, so their spans are those up to the last sampled trace id.
    # Fetched as columns (one list each, no row tuples), walked one trace (a run of equal trace ids) at a time.
    trace_ids, span_ids, parents, starts, ends, stages = data.span_columns(
        "critical_path_spans", CRITICAL_PATH_SPANS_SQL, {"last": max(roots)}
    )
    totals: dict[str | None, int] = defaultdict(int)
    used = 0
    count = len(trace_ids)
    first = 0
    while first < count:
        trace_id = trace_ids[first]
        last = first + 1
        while last < count and trace_ids[last] == trace_id:
            last += 1
        trace_roots = roots.get(trace_id)
        if trace_roots:
            block = slice(first, last)
            spans = list(zip(span_ids[block], parents[block], starts[block], ends[block], stages[block], strict=True))
            for root in trace_roots:
                used += 1
                for stage, ns in stage_time_on_path(spans, root).items():
                    totals[stage] += ns
        first = last
    path_ns = sum(totals.values())
    shares = {stage: ns / path_ns for stage, ns in totals.items() if stage is not None} if path_ns else {}
    return shares, used
