"""The end of the demo: the run's report on the terminal, report.html (or markdown) and JSON on disk, what next."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from agenttrace.report.api import NoSuchRun, store_report
from agenttrace.report.model import Report
from agenttrace.report.render_json import to_json
from agenttrace.report.render_table import render_table
from agenttrace.store import SpanStore


class NoReport(RuntimeError):
    """The run left nothing to report; the message says so in one line."""


def write_reports(db: Path, run_id: str, out_dir: Path, console: Console) -> Path:
    """Print the report of ``run_id`` from the stopped store ``db``, write it to ``out_dir``, say what next.

    Returns:
        The report file for a browser (report.html), or report.md when the HTML renderer is not installed.

    Raises:
        NoReport: No request of the run reached the store.
    """
    with SpanStore.open(db, read_only=True) as store:
        try:
            report = store_report(store, run_id)
        except NoSuchRun as exc:
            raise NoReport(f"nothing to report: {exc}") from None
    console.print()
    render_table(report, console)
    (out_dir / "report.json").write_text(json.dumps(to_json(report), indent=2) + "\n", encoding="utf-8")
    page = _write_page(report, out_dir)
    console.print()
    # One line each, never wrapped: they hold paths to copy.
    console.print(f"Report: {page}  (JSON: {out_dir / 'report.json'}; spans: {db})", soft_wrap=True)
    console.print(closing_line(page, db, run_id), soft_wrap=True, markup=False)
    return page


def _write_page(report: Report, out_dir: Path) -> Path:
    """report.html with the HTML renderer when this install has it, else report.md."""
    try:
        from agenttrace.report import render_html  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        from agenttrace.report.render_markdown import render_markdown

        page = out_dir / "report.md"
        page.write_text(render_markdown(report), encoding="utf-8")
        return page
    page = out_dir / "report.html"
    page.write_text(str(render_html.render_html(report)), encoding="utf-8")
    return page


def closing_line(page: Path, db: Path, run_id: str) -> str:
    """What to do next, in one line."""
    see = f"open {page} in a browser" if page.suffix == ".html" else f"read {page}"
    return (
        f"Next: {see}; `agenttrace report --db {db} --run {run_id}` prints it again; "
        "`agenttrace collector` gives the live report during your own load test; collector/README.md adds Jaeger."
    )
