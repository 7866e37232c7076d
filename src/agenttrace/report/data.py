"""One run's spans as a DuckDB view, handed to every analysis.

``RunData`` creates, on its DuckDB connection, the temporary view ``run_spans`` (the store's ``spans`` table
restricted to one run) and the temporary table ``run_requests`` (one row per request, with the figures every
analysis needs, time to first byte included). Temporary objects belong to their connection, so each report
builds on its own cursor and runs never mix. Analyses push their aggregation down into SQL on them.

The seam for sources that aggregate elsewhere: an analysis reads stage spans only through :meth:`RunData.span_rows`
/ :meth:`RunData.span_columns`, naming the query and giving its DuckDB SQL. With a ``pushdown``
(a :class:`SpanPushdown`, e.g. ClickHouse's) the named query runs there instead and returns the same rows; then
``run_spans`` holds only the run's request spans (all that ``run_requests`` and the request-level analyses read).
"""

from __future__ import annotations

import importlib.util
import struct
from typing import Any, Protocol

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from agenttrace._names import TIME_TO_FIRST_BYTE

#: SQL condition selecting request spans: SERVER spans and ``agenttrace.request`` blocks (they carry the roll-up).
REQUEST_FILTER = "(kind = 'SERVER' OR llm_calls IS NOT NULL)"
#: SQL condition selecting stage spans.
STAGE_FILTER = "(stage IS NOT NULL)"
#: SQL condition for a failed request: ERROR status or a 5xx answer (a 429 is rate limited, not an error).
ERROR_FILTER = "(status_code = 'ERROR' OR coalesce(http_status_code, 0) >= 500)"
#: SQL condition for a rate-limited request.
RATE_LIMITED_FILTER = "(http_status_code = 429)"


def sql_literal(value: str | None) -> str:
    """``value`` as a SQL string literal (``NULL`` for ``None``)."""
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


class SpanPushdown(Protocol):
    """Runs the named span queries of the analyses elsewhere (ClickHouse) and returns the DuckDB queries' rows."""

    def rows(self, name: str, params: dict[str, Any], render: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The rows of the query ``name`` with bind ``params``; ``render``: values written into its text."""

    def columns(self, name: str, params: dict[str, Any], render: dict[str, Any]) -> list[list[Any]]:
        """The result of the query ``name`` as one list per column."""


class RunData:
    """One run of a store, as the view ``run_spans`` on a DuckDB connection.

    Args:
        connection: A DuckDB connection (or cursor) on the store; the view is created on it.
        run_id: The run (``None`` is the run of spans without a run id).
        pushdown: Where the named span queries run instead of DuckDB (the connection then holds request spans only).
    """

    def __init__(self, connection: Any, run_id: str | None, pushdown: SpanPushdown | None = None) -> None:
        self.connection = connection
        self.run_id = run_id
        self.pushdown = pushdown
        self._tables: set[str] = set()
        condition = "run_id IS NULL" if run_id is None else f"run_id = {sql_literal(run_id)}"
        connection.execute(f"CREATE OR REPLACE TEMP VIEW run_spans AS SELECT * FROM spans WHERE {condition}")
        _register_functions(connection)
        connection.execute(REQUESTS_SQL)

    def table(self, name: str, query: str) -> str:
        """The temporary table ``name`` holding ``query``'s rows, created on first use: analyses share it."""
        if name not in self._tables:
            self.connection.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {query}")
            self._tables.add(name)
        return name

    def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run ``query`` (it reads ``run_spans``) and return all rows."""
        rows: list[tuple[Any, ...]] = self.connection.execute(query, params).fetchall()
        return rows

    def columns(self, query: str, params: Any = None) -> list[list[Any]]:
        """Run ``query`` and return its result as one list per column (faster than rows for many rows).

        With numpy installed (the ``report`` extra), DuckDB hands over whole columns; NULLs come back as ``None``.
        """
        result = self.connection.execute(query, params)
        if importlib.util.find_spec("numpy") is None:  # not the report extra: rows, turned into columns
            rows = result.fetchall()
            return [[row[i] for row in rows] for i in range(len(result.description))]
        return [_to_list(array) for array in result.fetchnumpy().values()]

    def span_rows(
        self,
        name: str,
        duckdb_sql: str,
        params: dict[str, Any] | None = None,
        tables: dict[str, str] | None = None,
        **render: Any,
    ) -> list[tuple[Any, ...]]:
        """The rows of the span query ``name``: ``duckdb_sql`` here, or the pushdown's query of that name.

        Args:
            name: The query's name (the pushdown's key).
            duckdb_sql: Its DuckDB SQL over ``run_spans`` (and ``tables``), with ``$name`` parameters.
            params: Bind parameters (both dialects).
            tables: Shared temporary tables the DuckDB SQL reads, ``{name: query}``, created on first use here.
            render: Values the pushdown writes into its SQL text (the DuckDB SQL has them written in already).
        """
        if self.pushdown is not None:
            return self.pushdown.rows(name, params or {}, render)
        for table, query in (tables or {}).items():
            self.table(table, query)
        return self.sql(duckdb_sql, params)

    def span_columns(self, name: str, duckdb_sql: str, params: dict[str, Any] | None = None) -> list[list[Any]]:
        """As :meth:`span_rows`, as one list per column (see :meth:`columns`)."""
        if self.pushdown is not None:
            return self.pushdown.columns(name, params or {}, {})
        return self.columns(duckdb_sql, params)

    def one(self, query: str, params: Any = None) -> tuple[Any, ...]:
        """The single row of an aggregate ``query``."""
        rows = self.sql(query, params)
        return rows[0] if rows else ()


def span_rows(source: Any, name: str, duckdb_sql: str, **render: Any) -> list[tuple[Any, ...]]:
    """:meth:`RunData.span_rows` of ``source``, or ``duckdb_sql`` run by its ``sql`` (a plain ``run_spans`` source).

    For the analyses that also take any object with ``sql(query, params)`` (samples, saturation).
    """
    method = getattr(source, "span_rows", None)
    if method is not None:
        rows: list[tuple[Any, ...]] = method(name, duckdb_sql, **render)
        return rows
    return fetch(source, duckdb_sql)


def fetch(source: Any, query: str) -> list[tuple[Any, ...]]:
    """Rows of ``query`` run by ``source.sql`` (a list of tuples whether it answers rows or a DuckDB result)."""
    result = source.sql(query, ())
    return [tuple(row) for row in (result.fetchall() if hasattr(result, "fetchall") else result)]


def _to_list(array: Any) -> list[Any]:
    """A numpy column (a masked array where it has NULLs) as a list, with ``None`` for NULL."""
    mask = getattr(array, "mask", None)
    if mask is None or not mask.any():
        values: list[Any] = array.tolist() if mask is None else array.data.tolist()
        return values
    return [None if hidden else value for value, hidden in zip(array.data.tolist(), mask.tolist(), strict=True)]


def latest_run(connection: Any) -> tuple[bool, str | None]:
    """The run whose last span ended last: ``(found, run_id)``; ``found`` is false for an empty store."""
    rows = connection.execute("SELECT run_id FROM spans GROUP BY run_id ORDER BY max(end_ns) DESC LIMIT 1").fetchall()
    return (True, rows[0][0]) if rows else (False, None)


#: ``run_requests``: one row per request span of the run (``trace``: a 64-bit hash of the trace id, to join on).
REQUESTS_SQL = f"""
CREATE OR REPLACE TEMP TABLE run_requests AS
SELECT trace_id, hash(trace_id) AS trace, span_id, name, scenario, http_route, start_ns, end_ns, duration_ns,
    http_status_code,
    {RATE_LIMITED_FILTER} IS TRUE AS rate_limited,
    {ERROR_FILTER} AND NOT ({RATE_LIMITED_FILTER} IS TRUE) AS failed,
    coalesce(error_type, status_message, CASE WHEN http_status_code >= 500 THEN CAST(http_status_code AS VARCHAR) END)
        AS error,
    CAST(round(agenttrace_ttfb_s(otlp_rest) * 1e9) AS BIGINT) AS ttfb_ns,
    llm_calls, tool_calls, input_tokens, output_tokens
FROM run_spans WHERE {REQUEST_FILTER}
"""

_TTFB_KEY = TIME_TO_FIRST_BYTE.encode()
# The attribute as OTLP serialises a double: key, then AnyValue (field 2, 9 bytes) holding double_value (field 4).
_TTFB_DOUBLE = _TTFB_KEY + b"\x12\x09\x21"


def ttfb_seconds(otlp_rest: bytes | None) -> float | None:
    """The request span's time to first byte (seconds) from its ``otlp_rest`` column, or ``None``."""
    if not otlp_rest or _TTFB_KEY not in otlp_rest:
        return None
    at = otlp_rest.find(_TTFB_DOUBLE)
    if at >= 0:  # the usual encoding: no need to parse the whole span
        value: float = struct.unpack_from("<d", otlp_rest, at + len(_TTFB_DOUBLE))[0]
        return value
    for attribute in Span.FromString(otlp_rest).attributes:
        if attribute.key == TIME_TO_FIRST_BYTE:
            kind = attribute.value.WhichOneof("value")
            if kind in ("double_value", "int_value"):
                return float(getattr(attribute.value, kind))
            return None
    return None


def _register_functions(connection: Any) -> None:
    try:
        connection.create_function(
            "agenttrace_ttfb_s", ttfb_seconds, ["BLOB"], "DOUBLE", null_handling="special"
        )  # special: the function may answer NULL for a span without the attribute
    except Exception as exc:  # noqa: BLE001 - already registered on this connection
        if "already" not in str(exc).lower():
            raise
