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
        "--slo",
        metavar="SLO",
        type=_latency_slo,
        help="also compare goodput: the share of requests meeting a latency SLO, e.g. latency<2s",
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="output form (default: %(default)s)")
    add_source_arguments(parser)
    parser.set_defaults(run=_run_compare)


def _percent(text: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%?\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a percentage: {text!r} (say 5%)")
    return float(match.group(1)) / 100


def _latency_slo(text: str) -> tuple[str, float, bool]:
    # The syntax of ``agenttrace report --slo``; only latency: the samples hold no time to first byte.
    match = re.fullmatch(r"\s*latency\s*(<=|<)\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*", text.lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a latency SLO: {text!r} (say latency<2s or latency<=500ms)")
    op, value, unit = match.groups()
    return f"latency{op}{value}{unit}", float(value) * (1000 if unit == "s" else 1), op == "<="


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
                profiles.update({run_id: _from_store(inputs, store, run_id) for run_id in run_ids})
        slo = compare.LatencySlo(*args.slo) if args.slo else None
        return compare.compare(profiles[args.baseline], profiles[args.candidate], args.max_regression, slo)
    except compare.CompareError as exc:
        raise CliError(str(exc)) from None


def _from_store(inputs: Any, store: Any, run_id: str) -> Any:
    if hasattr(store, "query"):  # the store file itself
        return inputs.profile_from_store(store, run_id)
    if hasattr(store, "report"):  # a running collector: its report of the run carries the samples
        report = store.report(run_id)
        return inputs.Profile(run_id, inputs.check_samples(report.get("samples"), f"the report of run {run_id!r}"))
    raise CliError("this collector cannot report runs: stop it, or compare JSON reports")


def _is_file(source: str) -> bool:
    """A JSON report (an existing file, or a name ending in ``.json``), not a run id."""
    return source.endswith(".json") or Path(source).is_file()
