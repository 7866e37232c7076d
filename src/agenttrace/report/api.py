"""The report for a caller that has an open store (the CLI on a stopped store, the collector's query API)."""

from __future__ import annotations

from typing import Any

from agenttrace.report.build import NoSuchRun, build_report
from agenttrace.report.model import Report
from agenttrace.report.render_json import to_json
from agenttrace.report.slo import Slo
from agenttrace.store import SpanStore

__all__ = ["NoSuchRun", "report_json", "store_report"]


def store_report(
    store: SpanStore,
    run_id: str | None,
    *,
    slos: list[str] | None = None,
    jaeger_ui: str | None = None,
) -> Report:
    """The report of run ``run_id`` (the latest run when ``None``) of an open store.

    Raises:
        ValueError: A bad SLO (the message says what is accepted).
        NoSuchRun: No such run, or an empty store.
    """
    parsed = [Slo.parse(text) for text in slos or []]
    # A cursor of its own: the report's temporary view and tables live and die with it.
    cursor = store._db.cursor()
    try:
        return build_report(
            cursor, run_id, latest=run_id is None, slos=parsed, jaeger_ui=jaeger_ui, source=str(store.path)
        )
    finally:
        cursor.close()


def report_json(store: SpanStore, query: dict[str, list[str]]) -> dict[str, Any]:
    """The JSON form for the query API: ``run`` (else the latest run), ``slo`` (repeatable), ``jaeger_ui``."""
    run = query.get("run", [None])[-1]
    jaeger_ui = query.get("jaeger_ui", [None])[-1]
    return to_json(store_report(store, run, slos=query.get("slo", []), jaeger_ui=jaeger_ui))
