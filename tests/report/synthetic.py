"""Synthetic runs with hand-chosen timings, written into a DuckDB table of the store's schema.

A run is a series of phases: in a phase ``n`` identical requests start at the same instant (so exactly ``n``
are in flight while they run), and the next phase starts after all of them ended. Each request's stage calls
are given relative to its start, in milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import duckdb

from agenttrace.store._schema import CREATE_STATEMENTS

MS = 1_000_000
RUN_ID = "run-1"
# (stage, start ms, end ms) relative to the request's start.
Call = tuple[str, float, float]
# The calls of request ``index`` (0-based) of a phase of ``concurrency`` requests.
Shape = Callable[[int, int], Sequence[Call]]

_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_ns",
    "end_ns",
    "duration_ns",
    "stage",
    "run_id",
)


class SyntheticRun:
    """Builds a run phase by phase; ``source()`` gives the connection with the view ``run_spans``."""

    def __init__(self, tail_ms: float = 5.0, gap_ms: float = 10.0) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.now_ns = 1_700_000_000 * 1_000_000_000
        self.tail_ms = tail_ms
        self.gap_ms = gap_ms
        self.requests = 0

    def phase(self, concurrency: int, repeats: int, shape: Shape) -> SyntheticRun:
        for _ in range(repeats):
            longest = 0
            for index in range(concurrency):
                calls = shape(concurrency, index)
                request_ns = round((max((end for _, _, end in calls), default=0.0) + self.tail_ms) * MS)
                self._request(calls, request_ns)
                longest = max(longest, request_ns)
            self.now_ns += longest + round(self.gap_ms * MS)
        return self

    def _request(self, calls: Sequence[Call], request_ns: int) -> None:
        self.requests += 1
        trace = f"{self.requests:032x}"
        root = f"{self.requests:08x}00000000"
        start = self.now_ns
        self.rows.append(
            (trace, root, None, "POST /agent", "SERVER", start, start + request_ns, request_ns, None, RUN_ID)
        )
        for number, (stage, begin_ms, end_ms) in enumerate(calls, start=1):
            begin, end = start + round(begin_ms * MS), start + round(end_ms * MS)
            self.rows.append(
                (
                    trace,
                    f"{self.requests:08x}{number:08x}",
                    root,
                    stage,
                    "INTERNAL",
                    begin,
                    end,
                    end - begin,
                    stage,
                    RUN_ID,
                )
            )

    def source(self) -> Source:
        connection = duckdb.connect(":memory:")
        for statement in CREATE_STATEMENTS:
            connection.execute(statement)
        columns = list(zip(*self.rows, strict=True)) if self.rows else [[] for _ in _COLUMNS]
        select = ", ".join(f"unnest(${i + 1})" for i in range(len(_COLUMNS)))
        connection.execute(f"INSERT INTO spans ({', '.join(_COLUMNS)}) SELECT {select}", [list(c) for c in columns])
        connection.execute(
            f"CREATE TEMP VIEW run_spans AS SELECT * FROM spans WHERE run_id IS NOT DISTINCT FROM '{RUN_ID}'"
        )
        return Source(connection)


class Source:
    """The contract's ``RunData`` surface: ``sql(query, params)`` over a connection with ``run_spans``."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection

    def sql(self, query: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self.connection.execute(query, list(params)).fetchall()


def sequential(*stages: tuple[str, float]) -> list[Call]:
    """Stages one after another from the request's start: ``(stage, duration ms)`` each."""
    calls, at = [], 0.0
    for stage, duration in stages:
        calls.append((stage, at, at + duration))
        at += duration
    return calls
