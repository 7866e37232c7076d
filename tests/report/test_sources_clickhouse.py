"""ClickHouse (the Collector's clickhouse exporter's otel_traces) through chdb, the ClickHouse engine in-process.

The table is created with the exporter's own DDL and filled with the rows the exporter would insert for RUN_A;
the source's exact SQL runs on it and the report must equal the embedded store's for the same spans.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agenttrace.report.data import REQUEST_FILTER
from agenttrace.report.slo import Slo
from agenttrace.report.sources import SourceError, source_report
from agenttrace.report.sources.clickhouse import (
    DEFAULT_DATABASE,
    DEFAULT_TABLE,
    ClickHouseQuery,
    Query,
    load_clickhouse,
    parse_url,
    safe_url,
)
from tests.report.conftest import MS, RUN_A, T0
from tests.report.source_spans import FIXTURES, clickhouse_rows
from tests.report.test_sources_otlp_json import SLOS, comparable, store_json

chdb_session = pytest.importorskip("chdb.session")
DDL = (FIXTURES / "clickhouse" / "otel_traces.sql").read_text(encoding="utf-8")
COLLECTOR_CONFIG = Path(__file__).resolve().parents[2] / "collector" / "otelcol-clickhouse.yaml"


@pytest.fixture(scope="module")
def clickhouse() -> Iterator[tuple[Query, list[str]]]:
    session = chdb_session.Session()
    session.query("CREATE DATABASE IF NOT EXISTS otel")
    session.query(DDL)
    rows = "\n".join(json.dumps(row) for row in clickhouse_rows(RUN_A))
    session.query(f"INSERT INTO otel.otel_traces FORMAT JSONEachRow\n{rows}\n")
    seen: list[str] = []

    def query(sql: str, params: dict[str, Any]) -> Any:
        seen.append(sql)
        return session.query(sql, "ArrowTable", params=params)

    yield query, seen
    session.close()


def test_same_report_as_the_store(run_a_db: Path, clickhouse: tuple[Query, list[str]]) -> None:
    query, _ = clickhouse
    loaded, run_id = load_clickhouse(query, ClickHouseQuery(run_id="run-a"), "chdb")
    # Only the request spans come back (one per request); the stage spans stay in ClickHouse.
    assert (run_id, loaded.spans, loaded.source) == ("run-a", 4, "chdb")
    report = source_report(loaded, "run-a", slos=[Slo.parse(s) for s in SLOS])
    assert comparable(report) == store_json(run_a_db, "run-a")


def test_latest_run_is_found_in_clickhouse(run_a_db: Path, clickhouse: tuple[Query, list[str]]) -> None:
    query, seen = clickhouse
    seen.clear()
    loaded, run_id = load_clickhouse(query, ClickHouseQuery(latest=True), "chdb")
    assert run_id == "run-a"
    assert "GROUP BY has_run, run_id ORDER BY last_end_ns DESC LIMIT 1" in seen[0]
    assert "WHERE SpanAttributes['agenttrace.run_id'] = {run_id:String}" in seen[1]
    assert comparable(source_report(loaded, run_id, latest=False, slos=[Slo.parse(s) for s in SLOS])) == store_json(
        run_a_db
    )


def test_time_window_is_pushed_down(clickhouse: tuple[Query, list[str]]) -> None:
    query, seen = clickhouse
    # Run-a's request spans starting in [0, 1 s]: the SERVER spans of traces 1, 2 and 3.
    spec = ClickHouseQuery(run_id="run-a", start_ns=T0, end_ns=T0 + 1000 * MS)
    loaded, _ = load_clickhouse(query, spec, "chdb")
    starts = loaded.connection.execute("SELECT min(start_ns) - ?, max(start_ns) - ?, count(*) FROM spans", [T0, T0])
    assert starts.fetchone() == (0, 1000 * MS, 3)
    assert "Timestamp >= fromUnixTimestamp64Nano({start_ns:Int64})" in seen[-1]
    spec = ClickHouseQuery(latest=True, start_ns=T0 + 100_000 * MS, end_ns=T0 + 200_000 * MS)
    with pytest.raises(SourceError) as error:
        load_clickhouse(query, spec, "chdb")
    assert str(error.value) == "no spans in otel.otel_traces at chdb"


def test_request_columns_as_the_store_has_them(run_a_db: Path, clickhouse: tuple[Query, list[str]]) -> None:
    import duckdb

    query, _ = clickhouse
    loaded, _ = load_clickhouse(query, ClickHouseQuery(run_id="run-a"), "chdb")
    columns = (
        "trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, duration_ns, status_code, status_message, "
        "service_name, stage, run_id, scenario, http_route, http_method, http_status_code, input_tokens, "
        "output_tokens, gen_ai_operation, llm_calls, tool_calls, error_type"
    )
    sql = f"SELECT {columns} FROM spans WHERE run_id = 'run-a' AND {REQUEST_FILTER} ORDER BY trace_id, span_id"
    store = duckdb.connect(str(run_a_db), read_only=True)
    try:
        assert loaded.connection.execute(sql).fetchall() == store.execute(sql).fetchall()
    finally:
        store.close()


def test_errors(clickhouse: tuple[Query, list[str]]) -> None:
    query, _ = clickhouse
    with pytest.raises(SourceError) as error:
        load_clickhouse(query, ClickHouseQuery(table="no_such_table", run_id="run-a"), "chdb")
    assert str(error.value).startswith("ClickHouse at chdb: ")
    assert "no_such_table" in str(error.value)
    with pytest.raises(SourceError) as error:
        load_clickhouse(query, ClickHouseQuery(table="x; DROP", run_id="run-a"), "chdb")
    assert str(error.value) == "not a ClickHouse table name: 'x; DROP'"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://ch:8123", ({"host": "ch", "port": 8123, "secure": False, "database": "otel"}, "otel", "otel_traces")),
        (
            "https://me:p%40ss@ch/db/spans",
            (
                {"host": "ch", "port": 8443, "secure": True, "database": "db", "username": "me", "password": "p@ss"},
                "db",
                "spans",
            ),
        ),
    ],
)
def test_parse_url(url: str, expected: object) -> None:
    assert parse_url(url) == expected


def test_bad_urls() -> None:
    for url, message in [
        ("tcp://ch:9000", "not a ClickHouse HTTP URL (http://host:8123/database): tcp://ch:9000"),
        ("http://ch/a/b/c", "the ClickHouse URL's path is /database or /database/table: http://ch/a/b/c"),
    ]:
        with pytest.raises(SourceError) as error:
            parse_url(url)
        assert str(error.value) == message
    assert safe_url("http://me:secret@ch:8123/otel") == "http://me:***@ch:8123/otel"


def test_collector_config_writes_the_table_the_source_reads() -> None:
    exporter = yaml.safe_load(COLLECTOR_CONFIG.read_text(encoding="utf-8"))["exporters"]["clickhouse"]
    assert (exporter["database"], exporter["traces_table_name"]) == (DEFAULT_DATABASE, DEFAULT_TABLE)
    assert exporter["create_schema"] is True


def test_cli_without_a_server(capsys: pytest.CaptureFixture[str]) -> None:
    from agenttrace._cli import main

    assert main(["report", "--clickhouse", "http://127.0.0.1:1/otel"]) == 1
    assert capsys.readouterr().err.startswith(
        "agenttrace: error: cannot connect to ClickHouse at http://127.0.0.1:1/otel"
    )
