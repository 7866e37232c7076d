from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from agenttrace.report.compare_input import StoreRun
from agenttrace.report.samples import samples
from agenttrace.store import SpanStore
from tests.report.compare_runs import insert_spans, write_run

MS = 1_000_000


def span(trace: int, span: int, **values: Any) -> dict[str, Any]:
    start = 1_000 * MS
    duration = values.pop("ms") * MS
    row = {
        "trace_id": f"{trace:032x}",
        "span_id": f"{span:016x}",
        "name": "s",
        "kind": "INTERNAL",
        "start_ns": start,
        "end_ns": start + duration,
        "duration_ns": duration,
        "status_code": "UNSET",
        "run_id": "r1",
    }
    row.update(values)
    return row


def run_samples(db: Path, run_id: str = "r1", cap: int = 2000) -> dict[str, Any]:
    with SpanStore.open(db) as store:
        return samples(StoreRun(store, run_id), cap)


def test_samples_fields_errors_and_run_filter(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    insert_spans(
        db,
        [
            # A server request with the roll-up and two stage calls.
            span(
                1,
                1,
                kind="SERVER",
                ms=900,
                http_status_code=200,
                llm_calls=2,
                tool_calls=1,
                input_tokens=100,
                output_tokens=20,
            ),
            span(1, 2, ms=300, stage="llm_call", parent_span_id=f"{1:016x}"),
            span(1, 3, ms=500, stage="llm_call", parent_span_id=f"{1:016x}"),
            # Rate limited: not an error. No roll-up: zeros.
            span(2, 4, kind="SERVER", ms=5, http_status_code=429),
            # A 5xx and an ERROR status are errors.
            span(3, 5, kind="SERVER", ms=40, http_status_code=503),
            span(4, 6, kind="SERVER", ms=41, status_code="ERROR"),
            # An agenttrace.request block (not SERVER, has the roll-up) is a request.
            span(5, 7, ms=70, llm_calls=1, tool_calls=0),
            # Another run's spans are not sampled.
            span(6, 8, kind="SERVER", ms=1, run_id="other"),
            span(6, 9, ms=1, stage="llm_call", run_id="other"),
        ],
    )
    result = run_samples(db)
    order = sorted(range(1, 6), key=lambda t: hashlib.md5(f"{t:032x}".encode()).hexdigest())
    by_trace = {
        1: (900.0, 0, 0, 2, 1, 100, 20),
        2: (5.0, 0, 1, 0, 0, 0, 0),
        3: (40.0, 1, 0, 0, 0, 0, 0),
        4: (41.0, 1, 0, 0, 0, 0, 0),
        5: (70.0, 0, 0, 1, 0, 0, 0),
    }
    expected = [by_trace[t] for t in order]
    assert result == {
        "cap": 2000,
        "requests": {
            "total": 5,
            "latency_ms": [row[0] for row in expected],
            "error": [row[1] for row in expected],
            "rate_limited": [row[2] for row in expected],
            "llm_calls": [row[3] for row in expected],
            "tool_calls": [row[4] for row in expected],
            "input_tokens": [row[5] for row in expected],
            "output_tokens": [row[6] for row in expected],
        },
        "stages": {"llm_call": {"total": 2, "duration_ms": [300.0, 500.0]}},
    }


def test_samples_are_capped_and_deterministic(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    write_run(db, "r1", seed=5, requests=300)
    first = run_samples(db, cap=100)
    assert first["requests"]["total"] == 300
    assert {field: len(values) for field, values in first["requests"].items() if field != "total"} == {
        "latency_ms": 100,
        "error": 100,
        "rate_limited": 100,
        "llm_calls": 100,
        "tool_calls": 100,
        "input_tokens": 100,
        "output_tokens": 100,
    }
    assert {stage: (e["total"], len(e["duration_ms"])) for stage, e in first["stages"].items()} == {
        "llm_call": (first["stages"]["llm_call"]["total"], 100),
        "load_context": (300, 100),
        "search": (300, 100),
    }
    # The same run gives the same samples, however its spans were stored (here: another run written in between
    # and the table rewritten in reverse order).
    write_run(db, "r2", seed=6, requests=50)
    with SpanStore.open(db) as store:
        store.query("CREATE TABLE copy AS SELECT * FROM spans ORDER BY start_ns DESC, span_id DESC")
        store.query("DELETE FROM spans")
        store.query("INSERT INTO spans SELECT * FROM copy")
    assert run_samples(db, cap=100) == first


def test_samples_of_an_empty_run(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    write_run(db, "r1", seed=5, requests=3)
    assert run_samples(db, run_id="nope") == {
        "cap": 2000,
        "requests": {
            "total": 0,
            "latency_ms": [],
            "error": [],
            "rate_limited": [],
            "llm_calls": [],
            "tool_calls": [],
            "input_tokens": [],
            "output_tokens": [],
        },
        "stages": {},
    }
