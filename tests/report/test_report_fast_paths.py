"""The report's fast paths give what the plain formulations they replace give, on random inputs (fixed seeds)."""

from __future__ import annotations

import random

import duckdb

from agenttrace.report.costs import _MODEL_SQL
from agenttrace.report.critical_path import _stage_time_on_path_by_sections, stage_time_on_path
from agenttrace.report.stages import LLM_SPAN, RATE_LIMITED_STAGE

Span = tuple[str, "str | None", int, int, "str | None"]


def random_trace(rng: random.Random) -> list[Span]:
    spans: list[Span] = [("r", None, 0, rng.choice([0, 50, 100]), rng.choice([None, "x"]))]
    for i in range(1, rng.randint(1, 12)):
        parent = rng.choice([s[0] for s in spans] + ["elsewhere"]) if rng.random() < 0.97 else None
        start = rng.choice([0, 10, 20]) if rng.random() < 0.3 else rng.randint(-10, 110)
        end = start + rng.choice([0, 1, 5, 10, 30, 60])
        span_id = f"s{rng.randint(0, 99):02d}" if rng.random() < 0.05 else f"s{i:02d}"  # some duplicate ids
        spans.append((span_id, parent, start, end, rng.choice([None, "llm", "tool", None])))
    if rng.random() < 0.02:
        spans.append(("r", "s01", 5, 6, None))  # the root twice, once under a child: a cycle
    rng.shuffle(spans)
    return spans


def test_stage_time_walk_matches_the_sections_walk() -> None:
    rng = random.Random(1)
    for _ in range(5000):
        spans = random_trace(rng)
        assert stage_time_on_path(spans, "r") == _stage_time_on_path_by_sections(spans, "r"), spans


# What the model-retry aggregate replaced: a window over each parent's model calls.
_MODEL_WINDOW = f"""
SELECT count(*) FILTER (WHERE failed AND next_start IS NOT NULL), count(*) FILTER (WHERE limited)
FROM (
    SELECT status_code = 'ERROR' OR error_type IS NOT NULL AS failed, {RATE_LIMITED_STAGE} IS TRUE AS limited,
        lead(start_ns) OVER (PARTITION BY trace_id, parent_span_id ORDER BY start_ns, span_id) AS next_start
    FROM run_spans WHERE {LLM_SPAN}
)"""


def test_model_retries_aggregate_matches_the_window() -> None:
    rng = random.Random(5)
    for _ in range(100):
        connection = duckdb.connect()
        connection.execute(
            "CREATE TABLE run_spans (trace_id VARCHAR, span_id VARCHAR, parent_span_id VARCHAR, start_ns BIGINT,"
            " stage VARCHAR, gen_ai_operation VARCHAR, status_code VARCHAR, error_type VARCHAR,"
            " http_status_code BIGINT)"
        )
        rows = [
            (
                f"t{rng.randint(0, 3)}",
                f"s{i:03d}",
                rng.choice([None, "p1", "p2"]),
                rng.choice([None, 1, 2, 3, 5, 5]),
                "llm_call",
                "chat",
                rng.choice([None, "ERROR", "OK", "UNSET"]),
                rng.choice([None, None, "429", "RateLimitError", "X"]),
                rng.choice([None, 200, 429]),
            )
            for i in range(rng.randint(1, 60))
        ]
        connection.executemany("INSERT INTO run_spans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        (window,) = connection.execute(_MODEL_WINDOW).fetchall()
        (aggregate,) = connection.execute(_MODEL_SQL).fetchall()
        assert tuple(v or 0 for v in aggregate) == tuple(v or 0 for v in window), rows
