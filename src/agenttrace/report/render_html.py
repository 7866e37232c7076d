"""The report as one self-contained HTML file: plotly plots and the report's tables, no network needed to view it.

plotly.js is inlined once in the page's head and every figure is drawn by an inline script, so the file opens
offline (no CDN, no ``<script src>``, no stylesheet links). Every string that came from spans (run id, stage,
scenario, route, error) is HTML-escaped; trace links are made only for ``http(s)`` Jaeger URLs. The output is
deterministic: fixed element ids, and no time other than the report's ``generated_at``.
"""

from __future__ import annotations

import html
from typing import Any

from agenttrace.report.model import Report
from agenttrace.report.sections import Table, summary_lines, tables

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto; max-width: 1200px;
  padding: 0 16px; color: #1f2328; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.meta { color: #656d76; font-size: 12px; }
.verdict { font-size: 16px; padding: 12px 16px; border-left: 5px solid #cf222e; background: #fff5f5; margin: 16px 0; }
.verdict.none { border-color: #8c959f; background: #f6f8fa; }
ul.summary { padding-left: 20px; }
table { border-collapse: collapse; margin: 4px 0 8px; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #d0d7de; padding: 4px 10px; text-align: right; white-space: nowrap; }
th { background: #f6f8fa; } th.l, td.l { text-align: left; }
.note { color: #656d76; font-size: 12px; font-style: italic; }
.wide { overflow-x: auto; }
.plot { margin: 12px 0 20px; border: 1px solid #d0d7de; border-radius: 6px; }
"""


def render_html(report: Report) -> str:
    """The HTML page (ending with a newline).

    Raises:
        ImportError: plotly is not installed (``pip install 'agenttrace[report]'``).
    """
    from plotly.offline import get_plotlyjs

    from agenttrace.report.html_figures import FIGURES

    name = report.run_id if report.run_id is not None else "(no run id)"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>agenttrace report: {_e(name)}</title>",
        f"<style>{_CSS}</style>",
        "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>",
        f"<script>{get_plotlyjs()}</script>",
        "</head>",
        "<body>",
        f"<h1>agenttrace report: {_e(name)}</h1>",
        f'<p class="meta">generated {_e(report.generated_at)}{_source(report.source)}</p>',
        _verdict(report),
        '<ul class="summary">',
        *(f"<li>{_e(line)}</li>" for line in summary_lines(report) if not line.startswith("Bottleneck:")),
        "</ul>",
    ]
    for div_id, figure_of in FIGURES:
        figure = figure_of(report)
        if figure is not None:
            out.append(f'<div class="plot">{_plot(figure, div_id)}</div>')
    links = {ref.url: ref.trace_id for ref in [*report.slowest, *report.failed] if ref.url and _web(ref.url)}
    for table in tables(report):
        out += _table(table, links)
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _source(source: str) -> str:
    return f" from {_e(source)}" if source else ""


def _verdict(report: Report) -> str:
    bottleneck = report.bottleneck
    where = f" <strong>{_e(bottleneck.stage)}</strong>" if bottleneck.stage else ""
    kind = "verdict none" if bottleneck.kind == "none" else "verdict"
    return f'<p class="{kind}"><strong>Bottleneck: {_e(bottleneck.kind)}</strong>{where}: {_e(bottleneck.reason)}</p>'


def _plot(figure: Any, div_id: str) -> str:
    # include_plotlyjs=False: the page's head holds plotly.js once; div_id fixed for a deterministic file.
    text: str = figure.to_html(
        full_html=False, include_plotlyjs=False, div_id=div_id, config={"displaylogo": False, "responsive": True}
    )
    return text


def _table(table: Table, links: dict[str, str]) -> list[str]:
    out = [f"<h2>{_e(table.title)}</h2>", '<div class="wide"><table>', "<thead><tr>"]
    out += [_cell("th", header, i < table.left) for i, header in enumerate(table.headers)]
    out += ["</tr></thead>", "<tbody>"]
    for row in table.rows:
        out.append("<tr>" + "".join(_cell("td", cell, i < table.left, links) for i, cell in enumerate(row)) + "</tr>")
    out += ["</tbody>", "</table></div>"]
    if table.note:
        out.append(f'<p class="note">{_e(table.note)}</p>')
    return out


def _cell(tag: str, text: str, left: bool, links: dict[str, str] | None = None) -> str:
    align = ' class="l"' if left else ""
    if links and text in links:  # a slowest/failed request's Jaeger URL: show the trace id, link the trace
        return f'<{tag}{align}><a href="{_e(text)}">{_e(links[text])}</a></{tag}>'
    return f"<{tag}{align}>{_e(text)}</{tag}>"


def _web(url: str) -> bool:
    return url.startswith(("http://", "https://"))
