"""The run over time (``report.series``): hand-computed on RUN_A, and against a brute-force oracle."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pytest

from agenttrace.report.build import build_report
from agenttrace.report.data import RunData
from agenttrace.report.load_json import report_from_json
from agenttrace.report.model import StageSeries, Timeseries
from agenttrace.report.render_json import render_json, to_json
from agenttrace.report.series import MAX_BUCKETS, MAX_STAGES, timeseries
from agenttrace.report.summary import overview
from agenttrace.store._schema import CREATE_STATEMENTS

T0 = 1_700_000_000_000_000_000
MS = 1_000_000


@pytest.fixture
def connection(run_a_db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(run_a_db), read_only=True)
    yield connection
    connection.close()


def test_run_a_by_hand(connection: duckdb.DuckDBPyConnection) -> None:
    # 6 s run: six 1 s buckets. Requests R1 0-1 s and R2 0.5-2.5 s start in bucket 0, R3 1-1.5 s (429) in 1,
    # R4 3-6 s (500) in 3. In flight: bucket 0 R1 1 s + R2 0.5 s; 1: R2 1 s + R3 0.5 s; 2: R2 0.5 s; 3-5: R4.
    # Stage calls by start: tool 400 and 200 ms (R1) in 0, 400 ms (R2 at 1.6 s) in 1, 2000 ms (R4) in 3; agent
    # 1900 ms in 0; llm_call 300, 200, 1000 ms in 0 (p95 300 + 0.9 x 700), 100 and 300 ms (R3) in 1.
    # Stages in the report's order (longest p95 first: agent 1,900 ms, tool 1,760 ms, llm_call 860 ms).
    assert build_report(connection, "run-a").timeseries == Timeseries(
        bucket_s=1.0,
        t_s=[0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
        requests_per_s=[2.0, 1.0, 0.0, 1.0, 0.0, 0.0],
        in_flight=[1.5, 1.5, 0.5, 1.0, 1.0, 1.0],
        errors=[0, 0, 0, 1, 0, 0],
        rate_limited=[0, 1, 0, 0, 0, 0],
        stages={
            "agent": StageSeries([1900.0, None, None, None, None, None], [1900.0, None, None, None, None, None]),
            "tool": StageSeries([300.0, 400.0, None, 2000.0, None, None], [390.0, 400.0, None, 2000.0, None, None]),
            "llm_call": StageSeries([300.0, 200.0, None, None, None, None], [930.0, 290.0, None, None, None, None]),
        },
    )


def test_short_run_is_one_bucket(connection: duckdb.DuckDBPyConnection) -> None:
    # run-b: one 100 ms request and no stages.
    series = build_report(connection, "run-b").timeseries
    assert series == Timeseries(0.1, [0.0], [10.0], [1.0], [0], [0], {})


def test_json_round_trip(connection: duckdb.DuckDBPyConnection) -> None:
    report = build_report(connection, "run-a")
    data = json.loads(render_json(report))
    assert data["timeseries"]["stages"]["llm_call"] == {
        "p50_ms": [300.0, 200.0, None, None, None, None],
        "p95_ms": [930.0, 290.0, None, None, None, None],
    }
    assert report_from_json(data).timeseries == report.timeseries
    # A report saved before the series existed still loads.
    del data["timeseries"]
    assert report_from_json(data).timeseries is None


def _store(rows: list[tuple[object, ...]]) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(":memory:")
    for statement in CREATE_STATEMENTS:
        connection.execute(statement)
    columns = "trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, duration_ns, stage, run_id"
    connection.executemany(f"INSERT INTO spans ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'r')", rows)
    return connection


def _request(number: int, start: int, end: int) -> tuple[object, ...]:
    return (f"{number:032x}", f"{number:016x}", None, "POST /x", "SERVER", start, end, end - start, None)


def _call(number: int, call: int, stage: str, start: int, end: int) -> tuple[object, ...]:
    return (f"{number:032x}", f"{number:08x}{call:08x}", f"{number:016x}", stage, "INTERNAL", start, end, end - start,
            stage)  # fmt: skip


def test_long_run_against_brute_force() -> None:
    # 400 requests over ~250 s with ragged times (many span bucket edges), two stage calls each.
    rng = random.Random(7)
    requests: list[tuple[int, int]] = []
    rows = []
    for number in range(400):
        start = T0 + rng.randrange(0, 245_000) * MS + rng.randrange(MS)
        end = start + rng.randrange(1, 5_000) * MS + rng.randrange(MS)
        requests.append((start, end))
        rows.append(_request(number, start, end))
        middle = (start + end) // 2
        rows.append(_call(number, 1, "llm", start, middle))
        rows.append(_call(number, 2, "tool", middle, end))
    with _store(rows) as connection:
        data = RunData(connection, "r")
        series = timeseries(data, overview(data), ["tool", "llm"])
    assert series is not None
    first, last = min(s for s, _ in requests), max(e for _, e in requests)
    wall = last - first
    n = len(series.t_s)
    assert n == MAX_BUCKETS and series.bucket_s == pytest.approx(wall / 1e9 / n, rel=1e-12)
    edges = [first + wall * i / n for i in range(n + 1)]

    def bucket(t: int) -> int:
        return min((t - first) * n // wall, n - 1)

    started = [0] * n
    for start, _ in requests:
        started[bucket(start)] += 1
    assert series.requests_per_s == [round(c / series.bucket_s, 6) for c in started]
    overlap = [sum(max(0.0, min(e, edges[i + 1]) - max(s, edges[i])) for s, e in requests) for i in range(n)]
    assert series.in_flight == pytest.approx([o / (wall / n) for o in overlap], abs=2e-6)
    assert list(series.stages) == ["tool", "llm"]
    for stage in ("llm", "tool"):
        per_bucket: list[list[int]] = [[] for _ in range(n)]
        for row in rows:
            if row[8] == stage:
                per_bucket[bucket(int(str(row[5])))].append(int(str(row[7])))
        expected = [round(float(np.percentile(d, 95)) / 1e6, 3) if d else None for d in per_bucket]
        assert sum(1 for d in per_bucket if d) > n // 2  # most buckets have calls: a real comparison
        assert series.stages[stage].p95_ms == pytest.approx(expected, abs=1e-3), stage


def test_bounded_stages_and_no_duration() -> None:
    names = [f"s{i:02d}" for i in range(MAX_STAGES + 3)]
    rows = [_request(1, T0, T0 + 2_000 * MS)] + [
        _call(1, i + 1, name, T0 + i * MS, T0 + (i + 1) * MS) for i, name in enumerate(names)
    ]
    with _store(rows) as connection:
        data = RunData(connection, "r")
        series = timeseries(data, overview(data), names[::-1])
        assert series is not None and list(series.stages) == names[::-1][:MAX_STAGES]
        assert series.stages["s14"] == StageSeries([1.0, None], [1.0, None])
    with _store([_request(1, T0, T0)]) as connection:
        data = RunData(connection, "r")
        assert timeseries(data, overview(data), []) is None
        assert to_json(build_report(connection, "r"))["timeseries"] is None
