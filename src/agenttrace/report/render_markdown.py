"""The report as GitHub-flavoured markdown, e.g. for a pull-request comment."""

from __future__ import annotations

from agenttrace.report.model import Report
from agenttrace.report.sections import summary_lines, tables


def render_markdown(report: Report) -> str:
    """The markdown text (ending with a newline)."""
    name = report.run_id if report.run_id is not None else "(no run id)"
    out = [f"## agenttrace report: {_escape(name)}", ""]
    out += [f"- {_escape(line)}" for line in summary_lines(report)]
    for table in tables(report):
        out += ["", f"### {table.title}", ""]
        out.append("| " + " | ".join(_escape(h) for h in table.headers) + " |")
        out.append("|" + "|".join(":--" if i < table.left else "--:" for i in range(len(table.headers))) + "|")
        out += ["| " + " | ".join(_escape(cell) for cell in row) + " |" for row in table.rows]
        if table.note:
            out += ["", f"_{_escape(table.note)}_"]
    return "\n".join(out) + "\n"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
