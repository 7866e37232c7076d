"""The HTML report's plots, as plotly figures (``plotly.graph_objects``); ``render_html`` lays them out.

Each function returns ``None`` when the report has nothing to draw. Stage names come from spans, so they are
HTML-escaped before plotly.js sees them (it renders a subset of HTML in titles, legends and hover text).
"""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go

from agenttrace.report.model import Report

#: Figure height, pixels.
HEIGHT = 420
#: The plotly template (colours, grid); embedded in each figure's layout.
TEMPLATE = "plotly_white"
#: Name of the critical-path remainder: the requests' own time outside any stage.
OUTSIDE_STAGES = "(outside stages)"


def stage_latency_over_time(report: Report) -> go.Figure | None:
    """p95 duration of each stage's calls per time bucket."""
    series = report.timeseries
    if series is None or not series.stages:
        return None
    figure = _figure("Stage latency over time (p95 of calls started in each bucket)", "seconds since start", "ms")
    for stage, values in series.stages.items():
        figure.add_trace(go.Scatter(x=series.t_s, y=values.p95_ms, name=_name(stage), mode="lines+markers"))
    return figure


def critical_path_share(report: Report) -> go.Figure | None:
    """Each stage's share of the critical path, stacked: the whole run, then per concurrency bin."""
    bins = _bins(report)
    run = [(s.stage, s.critical_path_share) for s in report.stages if s.critical_path_share is not None]
    if not run and not bins:
        return None
    per_bin = [{s.get("stage"): s.get("critical_path_share") or 0.0 for s in item.get("stages") or []} for item in bins]
    labels = (["whole run"] if run else []) + [_bin_label(item) for item in bins]
    columns: list[dict[Any, Any]] = ([dict(run)] if run else []) + per_bin
    figure = _figure("Critical-path share by stage (whole run, then by concurrency)", "in-flight requests", "share")
    for stage in _stage_order(report, per_bin):
        shares = [column.get(stage, 0.0) for column in columns]
        figure.add_trace(go.Bar(x=labels, y=shares, name=_name(stage)))
    rest = [max(0.0, 1.0 - sum(v for v in column.values() if isinstance(v, (int, float)))) for column in columns]
    figure.add_trace(go.Bar(x=labels, y=rest, name=OUTSIDE_STAGES, marker_color="lightgrey"))
    figure.update_layout(barmode="stack", yaxis_tickformat=".0%", yaxis_range=[0, 1])
    figure.update_xaxes(type="category")
    return figure


def stage_latency_vs_concurrency(report: Report) -> go.Figure | None:
    """p95 of each stage's time per request, per concurrency bin (log scale)."""
    bins = _bins(report)
    if not bins:
        return None
    per_bin = [{s.get("stage"): s.get("p95_ms") for s in item.get("stages") or []} for item in bins]
    x = [item.get("concurrency") for item in bins]
    figure = _figure("Stage latency vs concurrency (p95 time per request in the stage)", "in-flight requests", "ms")
    for stage in _stage_order(report, per_bin):
        figure.add_trace(
            go.Scatter(x=x, y=[column.get(stage) for column in per_bin], name=_name(stage), mode="lines+markers")
        )
    figure.update_yaxes(type="log")
    return figure


def load_over_time(report: Report) -> go.Figure | None:
    """Requests started per second and mean in-flight requests per time bucket (two y axes)."""
    series = report.timeseries
    if series is None:
        return None
    figure = _figure("Requests/s and in-flight over time", "seconds since start", "requests/s")
    figure.add_trace(go.Scatter(x=series.t_s, y=series.requests_per_s, name="requests/s", mode="lines"))
    for name, counts in (("errors/s", series.errors), ("429s/s", series.rate_limited)):
        if any(counts):
            rates = [round(count / series.bucket_s, 6) for count in counts]
            figure.add_trace(go.Scatter(x=series.t_s, y=rates, name=name, mode="lines"))
    figure.add_trace(go.Scatter(x=series.t_s, y=series.in_flight, name="in flight (mean)", mode="lines", yaxis="y2"))
    figure.update_layout(
        yaxis2={
            "title": {"text": "in-flight requests"},
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "showgrid": False,
            "tickmode": "auto",  # own round ticks (overlaying axes otherwise sync to the left axis's grid)
        },
        yaxis_rangemode="tozero",
        legend={"x": 1.08, "xanchor": "left"},  # clear of the right-hand axis
        margin={"r": 80},
    )
    return figure


#: ``(div id, figure function)`` in page order.
FIGURES = (
    ("agenttrace-stage-latency-over-time", stage_latency_over_time),
    ("agenttrace-critical-path-share", critical_path_share),
    ("agenttrace-stage-latency-vs-concurrency", stage_latency_vs_concurrency),
    ("agenttrace-load-over-time", load_over_time),
)


def _figure(title: str, x_title: str, y_title: str) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(
        title={"text": title},
        xaxis_title={"text": x_title},
        yaxis_title={"text": y_title},
        template=TEMPLATE,
        height=HEIGHT,
        legend={"orientation": "v"},
        margin={"t": 60, "l": 60, "r": 60, "b": 50},
    )
    return figure


def _name(stage: str | None) -> str:
    return html.escape(str(stage))


def _bins(report: Report) -> list[dict[str, Any]]:
    saturation = report.saturation.to_json() if report.saturation is not None else {}
    bins = saturation.get("bins") if isinstance(saturation, dict) else None
    return [item for item in bins or [] if isinstance(item, dict)]


def _bin_label(item: dict[str, Any]) -> str:
    low, high = item.get("low"), item.get("high")
    return str(low) if low == high else f"{low}-{high}"


def _stage_order(report: Report, per_bin: list[dict[Any, Any]]) -> list[str]:
    """The report's stages (longest p95 first), then any stage only the bins know, by name."""
    order = [s.stage for s in report.stages]
    extra = sorted({str(stage) for column in per_bin for stage in column if stage is not None} - set(order))
    return order + extra
