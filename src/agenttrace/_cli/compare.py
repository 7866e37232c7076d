"""``agenttrace compare BASELINE CANDIDATE``: the run-vs-run gate a CI pipeline uses to block a merge.

Exit codes, as ``diff`` has them: 0 no regression, 1 at least one metric worse than ``--max-regression``
beyond run-to-run noise, 2 the runs could not be compared (bad arguments, unreadable input, unknown run).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from agenttrace._cli.common import CliError, Subparsers, add_source_arguments, need, open_source

REPORT_EXTRA = "pip install 'agenttrace[report]'"
FORMATS = ("table", "markdown", "json")
EXIT_REGRESSION = 1
EXIT_TROUBLE = 2


def register(subparsers: Subparsers) -> None:
    """Add ``agenttrace compare``."""
    parser = subparsers.add_parser(
        "compare",
        help="compare two load runs; exit 1 on a regression beyond noise",
        description=(
            "Compare a candidate load run with a baseline: request and stage p95, error rate, LLM and tool calls "
            "and tokens per request (and goodput with --slo), each with a bootstrap confidence interval of its "
            "change. A metric regresses when its whole interval is past --max-regression. Exit status: 0 no "
            "regression, 1 regression, 2 the runs could not be compared."
        ),
    )
    parser.add_argument("baseline", metavar="BASELINE", help="run id in the store, or a JSON report file")
    parser.add_argument("candidate", metavar="CANDIDATE", help="run id in the store, or a JSON report file")
    parser.add_argument(
        "--max-regression",
        metavar="PCT",
        type=_percent,
        default=0.05,
        help="largest tolerated change, in percent (default: 5%%)",
    )
    parser.add_argument(
        "--slo", metavar="LATENCY", type=_latency_ms, help="also compare goodput: requests without error within it"
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="output form (default: %(default)s)")
    add_source_arguments(parser)
    parser.set_defaults(run=_run_compare)


def _percent(text: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%?\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a percentage: {text!r} (say 5%)")
    return float(match.group(1)) / 100


def _latency_ms(text: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*", text)
    if match is None or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a latency: {text!r} (say 2s or 500ms)")
    return float(match.group(1)) * (1000 if match.group(2) == "s" else 1)


def _run_compare(args: argparse.Namespace) -> int:
    try:
        comparison = _compare(args)
    except CliError as exc:
        print(f"agenttrace: error: {exc}", file=sys.stderr)
        return EXIT_TROUBLE
    render = need("agenttrace.report.compare_render", REPORT_EXTRA)
    if args.format == "markdown":
        sys.stdout.write(render.render_markdown(comparison))
    elif args.format == "json":
        sys.stdout.write(render.render_json(comparison))
    else:
        render.render_table(comparison, sys.stdout)
    return EXIT_REGRESSION if comparison.regressions else 0


def _compare(args: argparse.Namespace) -> Any:
    compare = need("agenttrace.report.compare", REPORT_EXTRA)
    inputs = need("agenttrace.report.compare_input", REPORT_EXTRA)
    sources = [args.baseline, args.candidate]
    try:
        profiles: dict[str, Any] = {s: inputs.load_report(Path(s)) for s in sources if _is_file(s)}
        run_ids = [s for s in sources if s not in profiles]
        if run_ids:
            with open_source(args) as store:
                if not hasattr(store, "path") or not hasattr(store, "query"):
                    raise CliError(
                        "comparing run ids needs the store file: stop the collector, or compare JSON reports "
                        "(agenttrace report --format json)"
                    )
                profiles.update({run_id: inputs.profile_from_store(store, run_id) for run_id in run_ids})
        return compare.compare(profiles[args.baseline], profiles[args.candidate], args.max_regression, args.slo)
    except compare.CompareError as exc:
        raise CliError(str(exc)) from None


def _is_file(source: str) -> bool:
    """A JSON report (an existing file, or a name ending in ``.json``), not a run id."""
    return source.endswith(".json") or Path(source).is_file()
