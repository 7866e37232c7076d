"""The report from ClickHouse equals the store's, and only O(requests) rows leave ClickHouse (through chdb).

The same spans (a concurrency ramp with parallel tool calls, errors, 429s and tokens: ``ramp_run``) go into the
exporter's ``otel_traces`` table and into a span store; the two reports' JSON must be equal but for ``source``.
Every query sent to ClickHouse goes through a wrapper that counts the rows it returns.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agenttrace.report.slo import Slo
from agenttrace.report.sources import source_report
from agenttrace.report.sources.clickhouse import ClickHouseQuery, ClickHouseSpans, load_clickhouse
from agenttrace.report.stages import CRITICAL_PATH_SAMPLE
from tests.report.conftest import write_store
from tests.report.ramp_run import ramp_run
from tests.report.source_spans import FIXTURES, clickhouse_rows
from tests.report.test_sources_otlp_json import SLOS, comparable, store_json

chdb_session = pytest.importorskip("chdb.session")
DDL = (FIXTURES / "clickhouse" / "otel_traces.sql").read_text(encoding="utf-8")
REQUESTS = 20 + 20 + 24 + 32 + 32


class Counted:
    """A ``Query`` on a chdb session that counts the rows each query returns (by the query's first line)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.rows: list[int] = []

    def __call__(self, sql: str, params: dict[str, Any]) -> Any:
        table = self.session.query(sql, "ArrowTable", params=params)
        self.rows.append(table.num_rows)
        return table


@pytest.fixture(scope="module")
def session() -> Iterator[Any]:
    session = chdb_session.Session()
    session.query("CREATE DATABASE IF NOT EXISTS otel")
    session.query(DDL)
    # The same run three times: as the store gets it, and with 5 and 50 extra spans per request.
    runs = [ramp_run("ramp"), ramp_run("ramp-5", extra=5, first_trace=1001), ramp_run("ramp-50", 50, 2001)]
    rows = "\n".join(json.dumps(row) for run in runs for row in clickhouse_rows(run))
    session.query(f"INSERT INTO otel.otel_traces FORMAT JSONEachRow\n{rows}\n")
    yield session
    session.close()


def clickhouse_report(session: Any, run_id: str) -> tuple[dict[str, Any], Counted, ClickHouseSpans]:
    query = Counted(session)
    loaded, _ = load_clickhouse(query, ClickHouseQuery(run_id=run_id), "chdb")
    report = source_report(loaded, run_id, slos=[Slo.parse(s) for s in SLOS])
    loaded.close()
    return comparable(report), query, loaded.pushdown


def test_ramp_report_equals_the_store(session: Any, tmp_path: Path) -> None:
    spans = ramp_run("ramp")
    expected = store_json(write_store(tmp_path / "ramp.duckdb", spans), "ramp")
    got, _, _ = clickhouse_report(session, "ramp")
    # The run exercises every section: saturation bins, errors, 429s, retries, tokens, a series.
    assert expected["requests"] == REQUESTS
    assert expected["errors"] > 0 and expected["rate_limited"] > 0
    assert len(expected["saturation"]["bins"]) >= 3
    assert expected["costs"]["model_retries"] > 0 and expected["costs"]["model_429s"] > 0
    assert {s["stage"] for s in expected["stages"]} == {"llm_call", "tool"}
    assert got == expected


def test_rows_out_of_clickhouse_do_not_grow_with_spans(session: Any) -> None:
    five, query5, pushdown5 = clickhouse_report(session, "ramp-5")
    fifty, query50, pushdown50 = clickhouse_report(session, "ramp-50")
    assert five["requests"] == fifty["requests"] == REQUESTS
    counts5, counts50 = Counter(pushdown5.rows_returned), Counter(pushdown50.rows_returned)
    # The critical path walks the spans of its sample of traces (every trace here: fewer than the sample).
    assert REQUESTS < CRITICAL_PATH_SAMPLE
    spans5, spans50 = len(ramp_run("ramp-5", 5, 1001)), len(ramp_run("ramp-50", 50, 2001))
    assert (counts5.pop("critical_path_spans"), counts50.pop("critical_path_spans")) == (spans5, spans50)
    # Everything else: one row per request (its request span), then aggregates: the same rows for 5 or 50.
    assert counts5 == counts50
    assert counts5["request_spans"] == REQUESTS
    aggregates = sum(counts5.values()) - REQUESTS
    assert aggregates <= 2 * 100 + 20, counts5  # 2 stages x (100 buckets + bins), a few single rows
    # Every query sent (found in the wrapper): the same total, critical path apart.
    assert sum(query5.rows) - spans5 == sum(query50.rows) - spans50 == sum(counts5.values())
    print(f"rows out of ClickHouse: {dict(counts5)}; critical path spans: {spans5} / {spans50}")
