"""Where else a run's spans can come from: Jaeger v2, the Collector's OTLP/JSON files, ClickHouse.

Each source loads the run's spans into an in-memory DuckDB database with the span store's ``spans`` table
(``_load``), so :func:`agenttrace.report.build.build_report` runs the very same SQL as on the embedded store and
every source gives the same :class:`~agenttrace.report.model.Report` for the same spans (only ``source``
differs). Jaeger and OTLP/JSON go through the collector's OTLP/JSON decoding and the store's row extraction.
ClickHouse loads only the run's request spans and runs the analyses' span queries in ClickHouse SQL
(``clickhouse``, ``clickhouse_sql``), through the ``pushdown`` seam of ``report.data.RunData``.

Example:
    >>> from agenttrace.report.sources import load_otlp_json, source_report
    >>> loaded = load_otlp_json(["traces.jsonl"])  # doctest: +SKIP
    >>> report = source_report(loaded, "run-42")  # doctest: +SKIP
"""

from __future__ import annotations

from agenttrace.report.build import build_report
from agenttrace.report.model import Report
from agenttrace.report.slo import Slo
from agenttrace.report.sources._load import Loaded, SourceError
from agenttrace.report.sources.jaeger import JaegerQuery, load_jaeger
from agenttrace.report.sources.otlp_json import load_otlp_json

__all__ = ["JaegerQuery", "Loaded", "SourceError", "load_jaeger", "load_otlp_json", "source_report"]


def source_report(
    loaded: Loaded,
    run_id: str | None,
    *,
    latest: bool | None = None,
    slos: list[Slo] | None = None,
    jaeger_ui: str | None = None,
) -> Report:
    """The report of run ``run_id`` (the latest run when ``None``, unless ``latest`` says otherwise) of ``loaded``.

    Raises:
        NoSuchRun: No requests of that run among the loaded spans.
    """
    latest = run_id is None if latest is None else latest
    return build_report(
        loaded.connection,
        run_id,
        latest=latest,
        slos=slos,
        jaeger_ui=jaeger_ui,
        source=loaded.source,
        pushdown=loaded.pushdown,
    )
