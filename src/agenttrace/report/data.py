"""One run's spans as a DuckDB view, handed to every analysis.

``RunData`` creates the temporary view ``run_spans``: the store's ``spans`` table restricted to one run.
Temporary views belong to their DuckDB connection, so each report builds on its own cursor and runs never
mix. Analyses push their aggregation down into SQL on that view.
"""

from __future__ import annotations

from typing import Any

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


class RunData:
    """One run of a store, as the view ``run_spans`` on a DuckDB connection.

    Args:
        connection: A DuckDB connection (or cursor) on the store; the view is created on it.
        run_id: The run (``None`` is the run of spans without a run id).
    """

    def __init__(self, connection: Any, run_id: str | None) -> None:
        self.connection = connection
        self.run_id = run_id
        condition = "run_id IS NULL" if run_id is None else f"run_id = {sql_literal(run_id)}"
        connection.execute(f"CREATE OR REPLACE TEMP VIEW run_spans AS SELECT * FROM spans WHERE {condition}")

    def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run ``query`` (it reads ``run_spans``) and return all rows."""
        rows: list[tuple[Any, ...]] = self.connection.execute(query, params).fetchall()
        return rows

    def one(self, query: str, params: Any = None) -> tuple[Any, ...]:
        """The single row of an aggregate ``query``."""
        rows = self.sql(query, params)
        return rows[0] if rows else ()


def latest_run(connection: Any) -> tuple[bool, str | None]:
    """The run whose last span ended last: ``(found, run_id)``; ``found`` is false for an empty store."""
    rows = connection.execute("SELECT run_id FROM spans GROUP BY run_id ORDER BY max(end_ns) DESC LIMIT 1").fetchall()
    return (True, rows[0][0]) if rows else (False, None)
