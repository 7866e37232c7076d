"""What a request costs: LLM and tool calls and tokens per request (distributions), model retries and 429s.

A request's counts are its roll-up attributes (``agenttrace.llm_calls`` ...) when the middleware set them,
else they are counted from the stage spans of its trace.
"""

from __future__ import annotations

from agenttrace.report.data import RunData
from agenttrace.report.model import Costs, Distribution
from agenttrace.report.stages import LLM_SPAN, RATE_LIMITED_STAGE, TRACE_STAGES_SQL

_COSTS_SQL = f"""
WITH counted AS (
    SELECT trace, CAST(sum(llm_calls) AS BIGINT) AS llm_calls, CAST(sum(tool_calls) AS BIGINT) AS tool_calls,
        CAST(sum(llm_input_tokens) AS BIGINT) AS input_tokens, CAST(sum(llm_output_tokens) AS BIGINT) AS output_tokens
    FROM run_trace_stages GROUP BY trace
),
per AS (
    SELECT coalesce(r.llm_calls, c.llm_calls, 0) AS llm, coalesce(r.tool_calls, c.tool_calls, 0) AS tool,
        coalesce(r.input_tokens, c.input_tokens, 0) AS inp, coalesce(r.output_tokens, c.output_tokens, 0) AS outp
    FROM run_requests r LEFT JOIN counted c ON c.trace = r.trace
)
SELECT {", ".join(f"avg({c}), quantile_cont({c}, [0.5, 0.95]), max({c})" for c in ("llm", "tool", "inp", "outp"))}
FROM per
"""

# A retry: a failed model call followed by another model call under the same parent (by start, then span id), i.e.
# every failed call of a parent but the last one. A call with no start is last and "followed" by no start: it
# neither counts nor makes the one before it count. One aggregate per parent, not a window.
_MODEL_SQL = f"""
SELECT sum(failed - CASE WHEN last_failed THEN 1 ELSE 0 END), sum(limited)
FROM (
    SELECT count(*) FILTER (WHERE (status_code = 'ERROR' OR error_type IS NOT NULL) AND start_ns IS NOT NULL)
            AS failed,
        count(*) FILTER (WHERE {RATE_LIMITED_STAGE}) AS limited,
        arg_max(coalesce(status_code = 'ERROR' OR error_type IS NOT NULL, false), (start_ns, span_id))
            FILTER (WHERE start_ns IS NOT NULL) AS last_failed
    FROM run_spans WHERE {LLM_SPAN} GROUP BY hash(trace_id, parent_span_id)
)
"""


def costs(data: RunData) -> Costs:
    """Per-request call and token distributions, model retries and model 429s."""
    rows = data.span_rows("costs", _COSTS_SQL, tables={"run_trace_stages": TRACE_STAGES_SQL})
    row = rows[0]
    dists = []
    for i in range(0, 12, 3):
        mean, quantiles, peak = row[i : i + 3]
        p50, p95 = quantiles if quantiles else (None, None)
        dists.append(Distribution(mean, p50, p95, None if peak is None else float(peak)))
    retries, limited = data.span_rows("model_retries", _MODEL_SQL)[0]
    return Costs(dists[0], dists[1], dists[2], dists[3], model_retries=retries or 0, model_429s=limited or 0)
