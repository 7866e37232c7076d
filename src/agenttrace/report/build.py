"""Build a run's :class:`Report`: run every analysis on one DuckDB connection and collect the results.

The saturation analysis (``report.saturation``) and the per-run samples (``report.samples``) are optional
modules: when one is not installed the report has ``saturation``/``samples`` ``None`` and a bottleneck of kind
``none`` saying why.
"""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

from agenttrace.report.costs import costs
from agenttrace.report.data import RunData, SpanPushdown, latest_run
from agenttrace.report.model import Bottleneck, Report
from agenttrace.report.series import timeseries
from agenttrace.report.slo import Slo
from agenttrace.report.stages import stage_stats
from agenttrace.report.summary import goodput, groups, notable, overview


class NoSuchRun(LookupError):
    """The store has no spans of the asked run (or no spans at all); the message is for the user."""


def build_report(
    connection: Any,
    run_id: str | None = None,
    *,
    latest: bool = False,
    slos: list[Slo] | None = None,
    jaeger_ui: str | None = None,
    source: str = "",
    pushdown: SpanPushdown | None = None,
) -> Report:
    """The report of one run.

    Args:
        connection: A DuckDB connection (or cursor) on a span store; temporary objects are created on it.
        run_id: The run (``None``: spans without a run id, unless ``latest``).
        latest: Report the run whose last span ended last instead of ``run_id``.
        slos: Service-level objectives for goodput.
        jaeger_ui: Jaeger UI base URL for trace links.
        source: Where the spans came from (a file or URL), for the reader.
        pushdown: Where the span queries run instead of ``connection`` (which then holds the request spans only).

    Raises:
        NoSuchRun: The run has no request spans (or the store is empty).
    """
    if latest:
        found, run_id = latest_run(connection)
        if not found:
            raise NoSuchRun("the span store is empty")
    data = RunData(connection, run_id, pushdown)
    run = overview(data)
    if run.requests == 0:
        name = "without a run id" if run_id is None else repr(run_id)
        raise NoSuchRun(f"no requests of the run {name} in the span store")
    stages, sampled = stage_stats(data, run.requests)
    slowest, failed = notable(data, jaeger_ui)
    saturation = _optional("saturation", "analyse_saturation", data)
    return Report(
        run_id=run_id,
        generated_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        source=source,
        overview=run,
        goodput=goodput(data, slos or [], run.wall_s),
        scenarios=groups(data, "scenario"),
        routes=groups(data, "http_route"),
        stages=stages,
        costs=costs(data),
        saturation=saturation,
        bottleneck=_bottleneck(saturation),
        slowest=slowest,
        failed=failed,
        critical_path_sampled_requests=sampled,
        samples=_optional("samples", "samples", data),
        timeseries=timeseries(data, run, [item.stage for item in stages]),
    )


def _optional(module: str, function: str, data: RunData) -> Any:
    """``report.<module>.<function>(data)``, or ``None`` when that analysis is not part of this install."""
    try:
        analysis = getattr(importlib.import_module(f"agenttrace.report.{module}"), function)
    except (ImportError, AttributeError):
        return None
    return analysis(data)


def _bottleneck(saturation: Any) -> Bottleneck:
    found = getattr(saturation, "bottleneck", None)
    if found is None:
        return Bottleneck("none", None, "no saturation analysis in this install")
    return Bottleneck(str(found.kind), found.stage, str(found.reason))
