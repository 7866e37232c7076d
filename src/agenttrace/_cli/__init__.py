"""The ``agenttrace`` command line: one module per subcommand, registered in ``COMMANDS``.

Each registrar adds its parser to the subparsers and sets ``run`` (``args -> exit code``) as the parser
default. Expected failures raise :class:`CliError` and end as one line on stderr with exit code 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from agenttrace._cli import collector, k6, report, runs
from agenttrace._cli.common import CliError, Subparsers

COMMANDS: dict[str, Callable[[Subparsers], None]] = {
    "collector": collector.register,
    "runs": runs.register,
    "k6": k6.register,
    "report": report.register,
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="agenttrace", description="agenttrace command line")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for register in COMMANDS.values():
        register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``agenttrace`` command line.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when ``None``.

    Returns:
        The exit code.

    Example:
        >>> main(["runs", "--db", "missing.duckdb"])  # doctest: +SKIP
        1
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return run(args)
    except CliError as exc:
        print(f"agenttrace: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
