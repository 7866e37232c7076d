"""``agenttrace runs``: list the load runs in a span store."""

from __future__ import annotations

import argparse

from agenttrace._cli.common import Subparsers, add_source_arguments, open_source


def register(subparsers: Subparsers) -> None:
    """Add ``agenttrace runs``."""
    parser = subparsers.add_parser(
        "runs",
        help="list the load runs in a span store",
        description="List the load runs in a span store, stopped or held by a running collector.",
    )
    add_source_arguments(parser)
    parser.set_defaults(run=_run_runs)


def _run_runs(args: argparse.Namespace) -> int:
    with open_source(args) as store:
        runs = store.list_runs()
    if not runs:
        print(f"no spans in {args.collector or args.db}")
        return 0
    rows = [("RUN ID", "FIRST SPAN (UTC)", "LAST SPAN (UTC)", "REQUESTS", "SPANS")]
    for run in runs:
        first = run.first_span.strftime("%Y-%m-%d %H:%M:%S")
        last = run.last_span.strftime("%Y-%m-%d %H:%M:%S")
        rows.append((run.run_id or "-", first, last, str(run.requests), str(run.spans)))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        cells = [cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        print("  ".join(cells).rstrip())
    return 0
