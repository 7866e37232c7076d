"""Per-run samples: what ``agenttrace compare`` resamples to tell a real change from run-to-run noise.

A report's percentiles and means say how a run went; comparing two runs also needs to know how much those
numbers would move if the same build ran again. :func:`samples` keeps a bounded, deterministic subset of
the raw values (the JSON report carries it under ``"samples"``) so a comparison can bootstrap them, from
the store or from two JSON files alone.

Selection: requests are taken in the order of ``md5(trace_id)`` (then span id), the first ``cap`` of them;
stage calls likewise, the first ``cap`` per stage. The hash order is a uniform random subset that does not
depend on arrival order, and the same run always gives the same samples. A run with at most ``cap``
requests (or calls of a stage) is kept whole.

Form (lists are parallel, one element per sampled request or call)::

    {
      "cap": 2000,
      "requests": {
        "total": 12000,            # requests in the run (the lists hold min(total, cap))
        "latency_ms": [812.4, ...],  # request span duration
        "error": [0, 1, ...],      # 1 when status is ERROR or the HTTP status is >= 500 (429 is not an error)
        "rate_limited": [0, ...],  # 1 when the HTTP status is 429
        "llm_calls": [3, ...],     # agenttrace.llm_calls (0 when absent)
        "tool_calls": [1, ...],    # agenttrace.tool_calls (0 when absent)
        "input_tokens": [1520, ...],   # gen_ai.usage.input_tokens summed over the request (0 when absent)
        "output_tokens": [310, ...]
      },
      "stages": {
        "llm_call": {"total": 36000, "duration_ms": [402.1, ...]}   # one per sampled stage call
      }
    }

Durations are milliseconds rounded to 1 microsecond.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from agenttrace.report.data import ERROR_FILTER, REQUEST_FILTER, span_rows

#: Most values kept per list: bounds the JSON report (a few hundred kB) and the cost of a bootstrap.
DEFAULT_CAP = 2000

REQUEST_FIELDS = ("latency_ms", "error", "rate_limited", "llm_calls", "tool_calls", "input_tokens", "output_tokens")


class RunSql(Protocol):
    """One run's spans as the DuckDB view ``run_spans`` (``report.data.RunData`` is one)."""

    def sql(self, query: str, params: Sequence[object] | None = None) -> list[tuple[Any, ...]]:
        """Run ``query`` (which reads ``run_spans``) and return every row."""


def round_ms(ns: int) -> float:
    """Nanoseconds as milliseconds rounded to 1 microsecond, half away from zero (exact: integer arithmetic)."""
    micros = (abs(ns) + 500) // 1000
    return (micros if ns >= 0 else -micros) / 1000


def samples(data: RunSql, cap: int = DEFAULT_CAP) -> dict[str, Any]:
    """Deterministic samples of one run's request latencies, costs and stage durations (form: module docstring).

    Args:
        data: The run, as the view ``run_spans``.
        cap: Most requests, and most calls per stage, to keep.

    Example:
        >>> samples(run_data)["requests"]["latency_ms"][:3]  # doctest: +SKIP
        [812.431, 1204.002, 655.87]
    """
    total = data.sql(f"SELECT count(*) FROM run_spans WHERE {REQUEST_FILTER}")[0][0]
    rows = data.sql(
        f"""
        SELECT round(duration_ns / 1e6, 3), CAST({ERROR_FILTER} AS INTEGER),
            CAST(coalesce(http_status_code, 0) = 429 AS INTEGER),
            coalesce(llm_calls, 0), coalesce(tool_calls, 0), coalesce(input_tokens, 0), coalesce(output_tokens, 0)
        FROM run_spans WHERE {REQUEST_FILTER}
        ORDER BY md5(trace_id), span_id LIMIT ?
        """,
        [cap],
    )
    requests: dict[str, Any] = {"total": int(total)}
    for i, field in enumerate(REQUEST_FIELDS):
        requests[field] = [row[i] for row in rows]
    # Per stage, the first ``cap`` calls in (md5(trace_id), span_id) order: a top-n per group (``min_by`` keeps
    # them sorted), not a sort of every call. Durations come back in ns and are rounded here, once for every source.
    stage_rows = (
        span_rows(
            data,
            "stage_samples",
            f"""
            SELECT stage, count(*), min_by(duration_ns, (md5(trace_id), span_id), {int(cap)})
            FROM run_spans WHERE stage IS NOT NULL GROUP BY stage ORDER BY stage
            """,
            cap=int(cap),
        )
        if cap > 0  # min_by wants n > 0; no calls kept is no stage at all
        else []
    )
    stages = {
        stage: {"total": int(total), "duration_ms": [round_ms(ns) for ns in durations]}
        for stage, total, durations in stage_rows
    }
    return {"cap": cap, "requests": requests, "stages": stages}
