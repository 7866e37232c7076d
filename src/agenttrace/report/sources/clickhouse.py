"""ClickHouse in the ``otel_traces`` schema of the OpenTelemetry Collector's ``clickhouse`` exporter.

What runs in ClickHouse: finding the latest run (an aggregate over the run id attribute); selecting one run's spans
(the run id filter, an optional time window on ``Timestamp``, the partition key) with the contract attributes
extracted from ``SpanAttributes`` and typed, time to first byte included (``run_spans_sql``); and every aggregation
over the run's stage spans (``clickhouse_sql``, one query per named span query of the analyses: per-stage
percentiles, self time, calls/time/tokens per request, errors and 429s, LLM calls per request, model retries, the
series' per-bucket stage percentiles, the saturation analysis's levels and per-bin stage figures, the stage samples).

What comes back: the run's request spans, one row each (``request_spans_sql``: they become an in-memory DuckDB
store, where ``run_requests`` and the request-level analyses run: overview, concurrency, goodput, groups, notable
requests, request samples, the saturation bins); the aggregate rows (per stage, per stage and bucket or bin, or
one); and, for the critical path, the spans of its bounded sample of traces (``stages.CRITICAL_PATH_SAMPLE``
requests). No event, link or other attribute leaves ClickHouse.

The exporter keeps attribute values as strings: numbers come back as their text (typed again here, ``"200"`` ->
200), arrays as JSON. Span kind and status code are its ``Server``/``Error`` (or ``SPAN_KIND_SERVER``) names.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from agenttrace import _names as names
from agenttrace.report.data import REQUEST_FILTER
from agenttrace.report.sources import clickhouse_sql
from agenttrace.report.sources._load import Loaded, SourceError, memory_store
from agenttrace.store._rows import EXTRACTED

#: Runs a ClickHouse query with ``{name:Type}`` parameters and returns a ``pyarrow.Table``.
Query = Callable[[str, dict[str, Any]], Any]

DEFAULT_DATABASE = "otel"
DEFAULT_TABLE = "otel_traces"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KINDS = "('INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER')"
_HAS_RUN = f"mapContains(SpanAttributes, '{names.RUN_ID}')"


def _attribute(key: str, kind: str) -> str:
    """ClickHouse expression for one contract attribute: NULL when absent (or, for numbers, not a number)."""
    if kind == "int":
        return f"toInt64OrNull(SpanAttributes['{key}'])"
    return f"if(mapContains(SpanAttributes, '{key}'), SpanAttributes['{key}'], NULL)"  # text, or arrays as JSON


def _where(run_id: str | None, windowed: bool, by_run: bool = True) -> str:
    conditions = []
    if by_run:
        conditions.append(
            f"NOT {_HAS_RUN}" if run_id is None else f"SpanAttributes['{names.RUN_ID}'] = {{run_id:String}}"
        )
    if windowed:
        conditions.append("Timestamp >= fromUnixTimestamp64Nano({start_ns:Int64})")
        conditions.append("Timestamp <= fromUnixTimestamp64Nano({end_ns:Int64})")
    return " AND ".join(conditions) or "1"


def _table(database: str, table: str) -> str:
    for name in (database, table):
        if not _IDENTIFIER.match(name):
            raise SourceError(f"not a ClickHouse table name: {name!r}")
    return f"`{database}`.`{table}`"


def latest_run_sql(table: str, windowed: bool) -> str:
    """The run whose last span ended last: one row ``(has_run, run_id, last_end_ns)``, none for an empty table."""
    return (
        f"SELECT {_HAS_RUN} AS has_run, SpanAttributes['{names.RUN_ID}'] AS run_id, "
        "max(toUnixTimestamp64Nano(Timestamp) + toInt64(Duration)) AS last_end_ns "
        f"FROM {table} WHERE {_where(None, windowed, by_run=False)} "
        "GROUP BY has_run, run_id ORDER BY last_end_ns DESC LIMIT 1"
    )


def run_spans_sql(table: str, run_id: str | None, windowed: bool) -> str:
    """One run's spans, projected to the store's columns (see the module docstring), ``end_ns`` included."""
    kind = "upper(replaceOne(upper(CAST(SpanKind AS String)), 'SPAN_KIND_', ''))"
    status = "upper(replaceOne(upper(CAST(StatusCode AS String)), 'STATUS_CODE_', ''))"
    attributes = ",\n    ".join(f"{_attribute(key, kind_)} AS {column}" for key, (column, kind_) in EXTRACTED.items())
    return f"""SELECT
    TraceId AS trace_id,
    SpanId AS span_id,
    nullIf(ParentSpanId, '') AS parent_span_id,
    CAST(SpanName AS String) AS name,
    if({kind} IN {_KINDS}, {kind}, 'UNSPECIFIED') AS kind,
    toUnixTimestamp64Nano(Timestamp) AS start_ns,
    toInt64(Duration) AS duration_ns,
    start_ns + duration_ns AS end_ns,
    multiIf({status} = 'OK', 'OK', {status} = 'ERROR', 'ERROR', 'UNSET') AS status_code,
    nullIf(StatusMessage, '') AS status_message,
    nullIf(CAST(ServiceName AS String), '') AS service_name,
    {attributes},
    toFloat64OrNull(SpanAttributes['{names.TIME_TO_FIRST_BYTE}']) AS ttfb_s,
    toJSONString(ResourceAttributes) AS resource_attributes,
    nullIf(ScopeName, '') AS scope_name,
    nullIf(ScopeVersion, '') AS scope_version
FROM {table}
WHERE {_where(run_id, windowed)}"""


def request_spans_sql(table: str, run_id: str | None, windowed: bool) -> str:
    """One run's request spans (``REQUEST_FILTER``), projected to the store's columns: the rows that come back."""
    return f"""SELECT * FROM (
{run_spans_sql(table, run_id, windowed)}
) WHERE {REQUEST_FILTER}
SETTINGS output_format_arrow_string_as_string = 1"""


# Arrow rows -> the store's columns: arrays arrive as JSON text, time to first byte as an otlp_rest span.
_ARRAY_CASTS = {"stages": "VARCHAR[]", "stage_calls": "BIGINT[]", "stage_durations": "DOUBLE[]"}


def _insert_sql() -> str:
    columns = ["trace_id", "span_id", "parent_span_id", "name", "kind", "start_ns", "end_ns", "duration_ns"]
    values = columns[:5] + ["start_ns", "start_ns + duration_ns", "duration_ns"]
    for column in ("status_code", "status_message", "service_name", *(c for c, _ in EXTRACTED.values())):
        columns.append(column)
        cast = _ARRAY_CASTS.get(column)
        if column == "stages":
            values.append("TRY_CAST(TRY_CAST(stages AS JSON) AS VARCHAR[])")
        elif cast:
            values.append(f"TRY_CAST({column} AS {cast})")
        else:
            values.append(column)
    columns += ["resource_attributes", "scope_name", "scope_version", "otlp_rest"]
    values += ["CAST(resource_attributes AS JSON)", "scope_name", "scope_version", "otlp_rest"]
    return f"INSERT INTO spans ({', '.join(columns)}) SELECT {', '.join(values)} FROM clickhouse_rows"


def _otlp_rest(ttfb_s: float | None) -> bytes | None:
    """The ``otlp_rest`` of a span whose only attribute left is its time to first byte (what the report reads)."""
    if ttfb_s is None:
        return None
    value = AnyValue(double_value=ttfb_s)
    span = Span(attributes=[KeyValue(key=names.TIME_TO_FIRST_BYTE, value=value)])
    encoded: bytes = span.SerializeToString()
    return encoded


@dataclass(frozen=True)
class ClickHouseQuery:
    """Which spans to read: a run (or the latest) of ``database.table``, optionally in a time window (ns)."""

    database: str = DEFAULT_DATABASE
    table: str = DEFAULT_TABLE
    run_id: str | None = None
    latest: bool = False
    start_ns: int | None = None
    end_ns: int | None = None


def _run(query: Query, sql: str, params: dict[str, Any], source: str) -> Any:
    try:
        return query(sql, params)
    except Exception as exc:  # noqa: BLE001 - any driver failure (network, auth, SQL) is the user's to see
        message = str(exc).strip().partition("\n")[0][:300]
        raise SourceError(f"ClickHouse at {source}: {message or type(exc).__name__}") from None


class ClickHouseSpans:
    """The report's span queries run in ClickHouse (a :class:`~agenttrace.report.data.SpanPushdown`).

    Each named query of ``clickhouse_sql`` runs over one run's spans (the ``run_spans`` CTE) and returns the rows
    the DuckDB query of that name returns; ``rows_returned`` counts, per query name, the rows that came back.
    """

    def __init__(self, query: Query, run_spans: str, params: dict[str, Any], source: str) -> None:
        self._query = query
        self._run_spans = run_spans
        self._params = params
        self._source = source
        self.rows_returned: dict[str, int] = {}

    def columns(self, name: str, params: dict[str, Any], render: dict[str, Any]) -> list[list[Any]]:
        """The result of the query ``name`` as one list per column."""
        sql = clickhouse_sql.render(name, self._run_spans, render)
        table = _run(self._query, sql, self._params | params, self._source)
        self.rows_returned[name] = self.rows_returned.get(name, 0) + table.num_rows
        return [column.to_pylist() for column in table.columns]

    def rows(self, name: str, params: dict[str, Any], render: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The rows of the query ``name``."""
        return list(zip(*self.columns(name, params, render), strict=True))


def load_clickhouse(query: Query, spec: ClickHouseQuery, source: str) -> tuple[Loaded, str | None]:
    """One run from ClickHouse: its request spans in an in-memory span store, its span queries left in ClickHouse.

    Returns:
        The loaded run (``Loaded.pushdown`` runs the report's span queries in ClickHouse) and the run id read.

    Raises:
        SourceError: ClickHouse failed the query or the table has no spans (in the window).
    """
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    table = _table(spec.database, spec.table)
    windowed = spec.start_ns is not None
    params: dict[str, Any] = {"start_ns": spec.start_ns, "end_ns": spec.end_ns} if windowed else {}
    run_id = spec.run_id
    if spec.latest:
        rows = _run(query, latest_run_sql(table, windowed), params, source).to_pylist()
        if not rows:
            raise SourceError(f"no spans in {spec.database}.{spec.table} at {source}")
        run_id = rows[0]["run_id"] if rows[0]["has_run"] else None
    if run_id is not None:
        params["run_id"] = run_id
    rows = _run(query, request_spans_sql(table, run_id, windowed), params, source)
    otlp_rest = pa.array([_otlp_rest(v) for v in rows.column("ttfb_s").to_pylist()], pa.binary())
    connection = memory_store()
    connection.register("clickhouse_rows", rows.append_column("otlp_rest", otlp_rest))
    connection.execute(_insert_sql())
    connection.unregister("clickhouse_rows")
    pushdown = ClickHouseSpans(query, run_spans_sql(table, run_id, windowed), params, source)
    pushdown.rows_returned["request_spans"] = rows.num_rows
    return Loaded(connection, source, rows.num_rows, pushdown=pushdown), run_id


def parse_url(url: str) -> tuple[dict[str, Any], str, str]:
    """``http[s]://[user[:password]@]host[:port][/database[/table]]`` -> (client settings, database, table)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceError(f"not a ClickHouse HTTP URL (http://host:8123/database): {url}")
    path = [urllib.parse.unquote(p) for p in parts.path.split("/") if p]
    if len(path) > 2:
        raise SourceError(f"the ClickHouse URL's path is /database or /database/table: {url}")
    database = path[0] if path else DEFAULT_DATABASE
    table = path[1] if len(path) > 1 else DEFAULT_TABLE
    _table(database, table)
    settings: dict[str, Any] = {
        "host": parts.hostname,
        "port": parts.port or (8443 if parts.scheme == "https" else 8123),
        "secure": parts.scheme == "https",
        "database": database,
    }
    if parts.username:
        settings["username"] = urllib.parse.unquote(parts.username)
    if parts.password:
        settings["password"] = urllib.parse.unquote(parts.password)
    return settings, database, table


def connect(url: str) -> Query:
    """A :data:`Query` on the ClickHouse server at ``url`` through clickhouse-connect."""
    import clickhouse_connect

    settings, _, _ = parse_url(url)
    safe = safe_url(url)
    try:
        client = clickhouse_connect.get_client(**settings)
    except Exception as exc:  # noqa: BLE001 - connection, auth: one line for the user
        raise SourceError(f"cannot connect to ClickHouse at {safe}: {str(exc).strip().partition(chr(10))[0]}") from None

    def run(sql: str, params: dict[str, Any]) -> Any:
        return client.query_arrow(sql, parameters=params)

    return run


def safe_url(url: str) -> str:
    """``url`` without its password (for messages)."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
