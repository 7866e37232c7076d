"""What a request costs: LLM and tool calls and tokens per request (distributions), model retries and 429s.

A request's counts are its roll-up attributes (``agenttrace.llm_calls`` ...) when the middleware set them,
else they are counted from the stage spans of its trace.
"""

from __future__ import annotations

from agenttrace.report.data import RunData
from agenttrace.report.model import Costs, Distribution
from agenttrace.report.stages import LLM_SPAN, RATE_LIMITED_STAGE

_COSTS_SQL = f"""
WITH counted AS (
    SELECT trace_id,
        count(*) FILTER (WHERE {LLM_SPAN}) AS llm_calls,
        count(*) FILTER (WHERE stage IS NOT NULL AND gen_ai_operation = 'execute_tool') AS tool_calls,
        sum(input_tokens) FILTER (WHERE {LLM_SPAN}) AS input_tokens,
        sum(output_tokens) FILTER (WHERE {LLM_SPAN}) AS output_tokens
    FROM run_spans WHERE stage IS NOT NULL GROUP BY trace_id
),
per AS (
    SELECT coalesce(r.llm_calls, c.llm_calls, 0) AS llm, coalesce(r.tool_calls, c.tool_calls, 0) AS tool,
        coalesce(r.input_tokens, c.input_tokens, 0) AS inp, coalesce(r.output_tokens, c.output_tokens, 0) AS outp
    FROM run_requests r LEFT JOIN counted c ON c.trace_id = r.trace_id
)
SELECT {", ".join(f"avg({c}), quantile_cont({c}, [0.5, 0.95]), max({c})" for c in ("llm", "tool", "inp", "outp"))}
FROM per
"""

# A retry: a failed model call followed by another model call under the same parent.
_MODEL_SQL = f"""
SELECT count(*) FILTER (WHERE failed AND next_start IS NOT NULL), count(*) FILTER (WHERE limited)
FROM (
    SELECT status_code = 'ERROR' OR error_type IS NOT NULL AS failed, {RATE_LIMITED_STAGE} IS TRUE AS limited,
        lead(start_ns) OVER (PARTITION BY trace_id, parent_span_id ORDER BY start_ns, span_id) AS next_start
    FROM run_spans WHERE {LLM_SPAN}
)
"""


def costs(data: RunData) -> Costs:
    """Per-request call and token distributions, model retries and model 429s."""
    row = data.one(_COSTS_SQL)
    dists = []
    for i in range(0, 12, 3):
        mean, quantiles, peak = row[i : i + 3]
        p50, p95 = quantiles if quantiles else (None, None)
        dists.append(Distribution(mean, p50, p95, None if peak is None else float(peak)))
    retries, limited = data.one(_MODEL_SQL)
    return Costs(dists[0], dists[1], dists[2], dists[3], model_retries=retries or 0, model_429s=limited or 0)
