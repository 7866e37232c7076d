"""``agenttrace demo``: collector, example agent service and a load ramp on this machine, then the report."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType

from agenttrace._cli.common import CliError, Subparsers, need

DEMO_EXTRA = "pip install 'agenttrace[collector,report,locust]'"
BOTTLENECK_CHOICES = ("llm", "context_load", "tool", "none")


def register(subparsers: Subparsers) -> None:
    """Add ``agenttrace demo``."""
    parser = subparsers.add_parser(
        "demo",
        help="run the example agent service under a load ramp and report its bottleneck",
        description="Start the embedded collector, the example agent service (examples/agent_service, from a "
        "source checkout) with one stage made the bottleneck, and a load run that ramps virtual users up; show "
        "the progress, then print the bottleneck report and write report.html. Every process it starts is "
        "stopped at the end, on Ctrl-C and when a part fails.",
    )
    parser.add_argument(
        "--bottleneck", choices=BOTTLENECK_CHOICES, default="llm", help="the stage to saturate (default: llm)"
    )
    parser.add_argument("--users", type=int, default=24, help="virtual users at the top of the ramp (default: 24)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default: 60)")
    parser.add_argument("--tool", choices=("locust", "k6"), default="locust", help="load tool (default: locust)")
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="where the span store, logs and reports go (default: a new temp dir)"
    )
    parser.set_defaults(run=_run_demo)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _run_demo(args: argparse.Namespace) -> int:
    need("duckdb", DEMO_EXTRA)
    need("rich", DEMO_EXTRA)
    if args.tool == "locust":
        need("locust", DEMO_EXTRA)
    from rich.console import Console

    from agenttrace._demo import DemoFailed, DemoPlan, run_demo
    from agenttrace._demo.plan import find_checkout

    root = find_checkout([Path.cwd(), Path(__file__).resolve().parents[3]])
    if root is None:
        raise CliError(
            "the demo runs from a source checkout: examples/agent_service is not here (cd into a clone of agenttrace)"
        )
    out_dir = args.out or Path(tempfile.mkdtemp(prefix="agenttrace-demo-"))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        plan = DemoPlan(args.bottleneck, args.users, args.duration, args.tool, root, out_dir.resolve())
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from None
    console = Console(highlight=False)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)  # SIGTERM stops everything too, like Ctrl-C
    try:
        run_demo(plan, console)
    except DemoFailed as exc:
        print(f"agenttrace demo: failed: {exc}; every process it started is stopped", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("agenttrace demo: interrupted; every process it started is stopped", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0
