"""The human-readable report as plain text pieces: summary lines and titled tables of strings.

The table (rich) and markdown renderers lay these out; they decide nothing about content, so both show the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agenttrace.report.formatting import DASH, ms, num, pct, text
from agenttrace.report.model import Distribution, GroupStats, Report, RequestRef


@dataclass(frozen=True)
class Table:
    """A titled table; the first ``left`` columns are text (left-aligned), the rest figures."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    left: int = 1
    note: str | None = None


def summary_lines(report: Report) -> list[str]:
    """The run in a few lines: volume, errors, concurrency, goodput, the bottleneck verdict."""
    run = report.overview
    lines = [
        f"Run {text(report.run_id)}: {run.requests:,} requests in {num(run.wall_s, 1)} s ({num(run.requests_per_s)}/s)",
        f"Errors {run.errors:,} ({pct(run.error_rate)}), rate limited (429) {run.rate_limited:,}",
        f"Concurrency: mean {num(run.concurrency.mean)}, max {run.concurrency.max}",
    ]
    lines += [
        f"Goodput {g.slo}: {g.met:,} of {run.requests:,} requests ({pct(g.share)}), {num(g.per_s)}/s"
        for g in report.goodput
    ]
    bottleneck = report.bottleneck
    where = f" {bottleneck.stage}" if bottleneck.stage else ""
    lines.append(f"Bottleneck: {bottleneck.kind}{where}: {bottleneck.reason}")
    return lines


def tables(report: Report) -> list[Table]:
    """Every table of the report, in reading order (empty ones left out)."""
    found = [
        _groups("Scenarios", "scenario", report.scenarios),
        _groups("Routes", "route", report.routes),
        _stages(report),
        _costs(report),
        _saturation(report.saturation.to_json() if report.saturation is not None else None),
        _requests("Slowest requests", report.slowest),
        _requests("Failed requests", report.failed),
    ]
    return [table for table in found if table is not None and table.rows]


def _groups(title: str, key: str, groups: list[GroupStats]) -> Table:
    headers = [key, "requests", "p50 ms", "p95 ms", "p99 ms", "ttfb p50 ms", "ttfb p95 ms", "errors", "429s"]
    rows = [
        [text(g.name), f"{g.requests:,}", ms(g.p50_ms), ms(g.p95_ms), ms(g.p99_ms), ms(g.ttfb_p50_ms),
         ms(g.ttfb_p95_ms), f"{g.errors:,}", f"{g.rate_limited:,}"]
        for g in groups
    ]  # fmt: skip
    return Table(title, headers, rows)


def _stages(report: Report) -> Table:
    headers = ["stage", "calls/req", "p50 calls", "max calls", "p50 ms", "p95 ms", "p99 ms", "self p95 ms",
               "req p95 ms", "crit. path", "in tok/req", "out tok/req", "errors", "429s"]  # fmt: skip
    rows = [
        [s.stage, num(s.calls_per_request), num(s.calls_per_request_p50), num(s.calls_per_request_max),
         ms(s.p50_ms), ms(s.p95_ms), ms(s.p99_ms), ms(s.self_p95_ms), ms(s.per_request_p95_ms),
         pct(s.critical_path_share), num(s.input_tokens_per_request, 1), num(s.output_tokens_per_request, 1),
         f"{s.errors:,}", f"{s.rate_limited:,}"]
        for s in report.stages
    ]  # fmt: skip
    sampled = report.critical_path_sampled_requests
    note = None
    if sampled < report.overview.requests:
        note = f"critical path computed on {sampled:,} of {report.overview.requests:,} requests (by trace id)"
    return Table("Stages", headers, rows, note=note)


def _costs(report: Report) -> Table:
    costs = report.costs

    def row(name: str, d: Distribution) -> list[str]:
        return [name, num(d.mean), num(d.p50), num(d.p95), num(d.max)]

    rows = [
        row("LLM calls", costs.llm_calls_per_request),
        row("tool calls", costs.tool_calls_per_request),
        row("input tokens", costs.input_tokens_per_request),
        row("output tokens", costs.output_tokens_per_request),
    ]
    note = f"model retries {costs.model_retries:,}, model 429s {costs.model_429s:,}"
    return Table("Per request", ["", "mean", "p50", "p95", "max"], rows, note=note)


def _saturation(saturation: dict[str, Any] | None) -> Table | None:
    """The concurrency bins of the saturation analysis: their scalar fields, whatever they are."""
    bins = (saturation or {}).get("bins") or []
    if not bins or not isinstance(bins[0], dict):
        return None
    headers = [key for key, value in bins[0].items() if _scalar(value)]
    rows = [[_cell(item.get(key)) for key in headers] for item in bins]
    return Table("Saturation (by concurrency)", headers, rows, left=0)


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, (str, int, float))


def _cell(value: object) -> str:
    if value is None:
        return DASH
    if isinstance(value, float):
        return num(value)
    return str(value)


def _requests(title: str, requests: list[RequestRef]) -> Table:
    headers = ["trace id", "scenario", "route", "error", "ms", "status"]
    rows = [
        [r.url or r.trace_id, text(r.scenario), text(r.route), text(r.error), ms(r.duration_ms),
         _cell(r.http_status_code)]
        for r in requests
    ]  # fmt: skip
    return Table(title, headers, rows, left=4)
