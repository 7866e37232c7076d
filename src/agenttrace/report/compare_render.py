"""Renderers of a :class:`~agenttrace.report.compare.Comparison`: a terminal table, Markdown, JSON.

Every form ends with the same one-line verdict (:func:`verdict_line`) naming each regressed metric.
Changes and interval ends are percentages of the baseline value; a change from a baseline of 0 is
``+inf`` (JSON: ``null``).
"""

from __future__ import annotations

import json
import math
from typing import IO, Any

from agenttrace.report.compare import CONFIDENCE, IMPROVEMENT, NOISE, REGRESSION, RESAMPLES, Comparison, Row

HEADERS = ("metric", "baseline", "candidate", "change", f"{CONFIDENCE:.0%} CI of change", "verdict")


def verdict_line(comparison: Comparison) -> str:
    """``PASS: ...`` or ``FAIL: ...`` naming every regressed metric, in one line."""
    limit = _limit(comparison.max_regression)
    regressions = comparison.regressions
    if not regressions:
        compared = sum(row.ci_low is not None for row in comparison.rows)
        return f"PASS: no metric worse by more than {limit} beyond run-to-run noise ({compared} compared)"
    named = "; ".join(
        f"{_name(row)} {_percent(row.change)} (CI {_percent(row.ci_low)} .. {_percent(row.ci_high)})"
        for row in regressions
    )
    return f"FAIL: {len(regressions)} worse by more than {limit} beyond noise: {named}"


def render_markdown(comparison: Comparison) -> str:
    """A Markdown table for a pull-request comment, with the verdict line under it."""
    lines = [
        f"### agenttrace compare: `{_code(comparison.baseline)}` → `{_code(comparison.candidate)}`",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in comparison.rows:
        name = f"stage `{_code(row.stage)}` p95" if row.stage is not None else row.metric
        verdict = f"**{row.verdict}**" if row.verdict == REGRESSION else row.verdict
        cells = (name, *_cells(row)[1:5], verdict)
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"**{verdict_line(comparison)}**", ""]
    lines.append(
        f"<sub>Regression: the whole {CONFIDENCE:.0%} bootstrap interval ({RESAMPLES} resamples) of the change "
        f"is past {_limit(comparison.max_regression)}.</sub>"
    )
    return "\n".join(lines) + "\n"


def render_json(comparison: Comparison) -> str:
    """The comparison as JSON: every row, the regressions and whether the gate passed."""

    def number(value: float | None) -> float | None:
        return None if value is None or math.isinf(value) else value

    document: dict[str, Any] = {
        "baseline": comparison.baseline,
        "candidate": comparison.candidate,
        "max_regression": comparison.max_regression,
        "confidence": CONFIDENCE,
        "resamples": RESAMPLES,
        "passed": not comparison.regressions,
        "verdict": verdict_line(comparison),
        "rows": [
            {
                "metric": row.metric,
                "stage": row.stage,
                "unit": row.unit,
                "baseline": row.baseline,
                "candidate": row.candidate,
                "change": number(row.change),
                "ci_low": number(row.ci_low),
                "ci_high": number(row.ci_high),
                "verdict": row.verdict,
            }
            for row in comparison.rows
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def render_table(comparison: Comparison, out: IO[str]) -> None:
    """A rich table on ``out`` and the verdict line under it."""
    from rich.console import Console
    from rich.table import Table

    styles = {REGRESSION: "bold red", IMPROVEMENT: "green", NOISE: "yellow"}
    table = Table(title=f"agenttrace compare: {comparison.baseline} -> {comparison.candidate}")
    for i, header in enumerate(HEADERS):
        table.add_column(header, justify="right" if 0 < i < len(HEADERS) - 1 else "left")
    for row in comparison.rows:
        table.add_row(*_cells(row), style=styles.get(row.verdict))
    console = Console(file=out, width=max(120, Console(file=out).width), highlight=False)
    console.print(table)
    console.print(verdict_line(comparison), style="bold red" if comparison.regressions else "bold green")


def _cells(row: Row) -> tuple[str, str, str, str, str, str]:
    interval = "" if row.ci_low is None else f"{_percent(row.ci_low)} .. {_percent(row.ci_high)}"
    return (
        _name(row),
        _value(row.baseline, row.unit),
        _value(row.candidate, row.unit),
        _percent(row.change),
        interval,
        row.verdict,
    )


def _name(row: Row) -> str:
    return f"stage {row.stage} p95" if row.stage is not None else row.metric


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "%":
        return f"{value * 100:.2f}%"
    return f"{value:.2f}"


def _percent(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return f"{value * 100:+.1f}%"


def _limit(fraction: float) -> str:
    return f"{fraction * 100:g}%"


def _code(text: str) -> str:
    # Inside a Markdown code span in a table cell: no backtick may close it, no pipe may end the cell.
    return text.replace("`", "'").replace("|", "\\|")
