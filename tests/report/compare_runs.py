"""Synthetic load runs written into a real span store (the store's own schema), for the comparison tests.

Each request is one trace: a SERVER span with the roll-up (llm_calls, tool_calls, tokens) and its stage
spans: one ``load_context``, two or three ``llm_call`` and one ``search`` (a tool). Durations are
log-normal, drawn from ``random.Random(seed)``: two runs with different seeds are two runs of one build.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from agenttrace.store import SpanStore

START_NS = 1_700_000_000_000_000_000
MEDIAN_MS = {"load_context": 40.0, "llm_call": 400.0, "search": 120.0}
SIGMA = 0.5


def write_run(
    db: Path,
    run_id: str,
    *,
    seed: int,
    requests: int = 600,
    slower: dict[str, float] | None = None,
    error_rate: float = 0.0,
    output_tokens: int = 300,
) -> None:
    """Append one run to the store at ``db`` (created when missing)."""
    rng = random.Random(seed)
    factor = slower or {}
    columns: dict[str, list[Any]] = {
        name: []
        for name in (
            "trace_id",
            "span_id",
            "parent_span_id",
            "name",
            "kind",
            "start_ns",
            "end_ns",
            "duration_ns",
            "status_code",
            "stage",
            "run_id",
            "http_status_code",
            "llm_calls",
            "tool_calls",
            "input_tokens",
            "output_tokens",
        )
    }

    def add(**values: Any) -> None:
        for name, column in columns.items():
            column.append(values.get(name))

    for i in range(requests):
        trace_id = f"{rng.getrandbits(128):032x}"
        root = f"{rng.getrandbits(64):016x}"
        start = START_NS + i * 50_000_000
        t = start + 1_000_000
        plan = ["load_context"] + ["llm_call"] * rng.choice((2, 3)) + ["search"]
        tokens_in = tokens_out = 0
        for stage in plan:
            ms = MEDIAN_MS[stage] * rng.lognormvariate(0, SIGMA) * factor.get(stage, 1.0)
            end = t + int(ms * 1e6)
            llm = stage == "llm_call"
            tokens = (
                (rng.randint(800, 1200), rng.randint(output_tokens - 50, output_tokens + 50)) if llm else (None, None)
            )
            tokens_in += tokens[0] or 0
            tokens_out += tokens[1] or 0
            add(
                trace_id=trace_id,
                span_id=f"{rng.getrandbits(64):016x}",
                parent_span_id=root,
                name=stage,
                kind="INTERNAL",
                start_ns=t,
                end_ns=end,
                duration_ns=end - t,
                status_code="UNSET",
                stage=stage,
                run_id=run_id,
                input_tokens=tokens[0],
                output_tokens=tokens[1],
            )
            t = end
        failed = rng.random() < error_rate
        end = t + 1_000_000
        add(
            trace_id=trace_id,
            span_id=root,
            name="POST /agent",
            kind="SERVER",
            start_ns=start,
            end_ns=end,
            duration_ns=end - start,
            status_code="ERROR" if failed else "UNSET",
            run_id=run_id,
            http_status_code=500 if failed else 200,
            llm_calls=plan.count("llm_call"),
            tool_calls=1,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
        )
    insert_spans(db, [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)])


def insert_spans(db: Path, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (column -> value; missing columns are NULL) into the store at ``db``."""
    names = sorted({name for row in rows for name in row})
    select = ", ".join(f"unnest(${i + 1})" for i in range(len(names)))
    with SpanStore.open(db) as store:
        store.query(
            f"INSERT INTO spans ({', '.join(names)}) SELECT {select}", [[row.get(n) for row in rows] for n in names]
        )
