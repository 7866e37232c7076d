"""The report as rich tables for a terminal."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table as RichTable

from agenttrace.report.model import Report
from agenttrace.report.sections import summary_lines, tables


def render_table(report: Report, console: Console) -> None:
    """Print the report on ``console``."""
    for line in summary_lines(report):
        console.print(line, highlight=False, markup=False)
    for table in tables(report):
        console.print()
        shown = RichTable(title=table.title, title_justify="left", caption=table.note, caption_justify="left")
        for i, header in enumerate(table.headers):
            shown.add_column(header, justify="left" if i < table.left else "right", overflow="fold")
        for row in table.rows:
            shown.add_row(*row)
        console.print(shown)


def render_text(report: Report, width: int = 160) -> str:
    """The table form as plain text (no colours) of ``width`` columns, e.g. for a file."""
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None, force_terminal=False)
    render_table(report, console)
    return "".join(line.rstrip() + "\n" for line in console.export_text().splitlines())
