"""``agenttrace report``: where the time of a load run went (latest run unless ``--run``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agenttrace._cli.common import CliError, Subparsers, add_source_arguments, need, open_source
from agenttrace._cli.sources import external, external_report

if TYPE_CHECKING:
    from agenttrace.report.model import Report

REPORT_EXTRA = "pip install 'agenttrace[report]'"
FORMATS = ("table", "json", "markdown", "html")
#: Where ``--format html`` writes without ``--out`` (a multi-megabyte page is no use on a terminal).
HTML_DEFAULT_OUT = Path("report.html")


def register(subparsers: Subparsers) -> None:
    """Add ``agenttrace report``."""
    parser = subparsers.add_parser(
        "report",
        help="report where the time of a load run went",
        description="Report one load run: latency, errors and 429s, concurrency, goodput, per-stage breakdown "
        "with critical-path share, costs per request, saturation, the slowest and failed requests. Works on a "
        "stopped store and while the collector runs.",
    )
    add_source_arguments(parser, external=True)
    parser.add_argument(
        "--run", dest="run_id", metavar="ID", help="the run to report (default: the run whose last span is latest)"
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: %(default)s)")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="write the report to FILE instead of stdout (html: a page that opens offline; default "
        f"{HTML_DEFAULT_OUT})",
    )
    parser.add_argument(
        "--slo",
        action="append",
        default=[],
        metavar="SLO",
        help="goodput objective, e.g. 'latency<2s' or 'ttfb<500ms' (repeatable)",
    )
    parser.add_argument("--jaeger-ui", metavar="URL", help="Jaeger UI base URL: link the listed traces")
    parser.add_argument("--width", type=int, default=None, help="table width in columns (default: the terminal's)")
    parser.set_defaults(run=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    need("duckdb", REPORT_EXTRA)
    if args.format == "table":
        need("rich", REPORT_EXTRA)
    args.out_defaulted = args.format == "html" and args.out is None
    if args.format == "html":
        need("plotly", REPORT_EXTRA)
        args.out = args.out or HTML_DEFAULT_OUT
    api = need("agenttrace.report.api", REPORT_EXTRA)
    from agenttrace.report.load_json import report_from_json
    from agenttrace.store import RemoteStore

    slo = need("agenttrace.report.slo", REPORT_EXTRA)
    try:  # fail before reading anything
        slos = [slo.Slo.parse(text) for text in args.slo]
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if external(args):
        return _write(_render(external_report(args, slos), args), args)
    with open_source(args) as store:
        if isinstance(store, RemoteStore):
            report = report_from_json(store.report(args.run_id, slos=args.slo, jaeger_ui=args.jaeger_ui))
        else:
            try:
                report = api.store_report(store, args.run_id, slos=args.slo, jaeger_ui=args.jaeger_ui)
            except api.NoSuchRun as exc:
                raise CliError(f"{exc} ({args.db})") from None
    return _write(_render(report, args), args)


def _write(text: str, args: argparse.Namespace) -> int:
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        args.out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    if getattr(args, "out_defaulted", False):
        print(f"agenttrace: wrote {args.out}", file=sys.stderr)
    return 0


def _render(report: Report, args: argparse.Namespace) -> str:
    if args.format == "json":
        from agenttrace.report.render_json import to_json

        return json.dumps(to_json(report), indent=2) + "\n"
    if args.format == "markdown":
        from agenttrace.report.render_markdown import render_markdown

        return render_markdown(report)
    if args.format == "html":
        from agenttrace.report.render_html import render_html

        return render_html(report)
    from agenttrace.report.render_table import render_text

    width = args.width or (None if args.out is not None else _terminal_width())
    return render_text(report, width or 160)


def _terminal_width() -> int | None:
    import shutil

    return shutil.get_terminal_size((160, 24)).columns if sys.stdout.isatty() else None
