"""``agenttrace k6``: where the shipped k6 module is, and copying it next to a k6 script."""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
from pathlib import Path

from agenttrace._cli.common import CliError, Subparsers
from agenttrace.k6 import MODULE_NAME, MODULE_PATH


def register(subparsers: Subparsers) -> None:
    """Add ``agenttrace k6 path`` and ``agenttrace k6 copy``."""
    parser = subparsers.add_parser(
        "k6",
        help="the k6 module: print its path or copy it next to a script",
        description=f"The k6 module ({MODULE_NAME}): trace propagation, Server-Timing metrics, a summary.",
    )
    parser.set_defaults(run=lambda _args: _usage(parser))
    actions = parser.add_subparsers(title="actions", metavar="ACTION")
    path = actions.add_parser("path", help=f"print the path of the installed {MODULE_NAME}")
    path.set_defaults(run=_run_path)
    copy = actions.add_parser(
        "copy",
        help=f"copy {MODULE_NAME} into a directory (next to your k6 script)",
        description=f"Copy {MODULE_NAME} into DIR, so a k6 script there can import './{MODULE_NAME}'.",
    )
    copy.add_argument("dir", metavar="DIR", type=Path, nargs="?", default=Path("."), help="default: %(default)s")
    copy.add_argument("--force", action="store_true", help=f"overwrite a different {MODULE_NAME} in DIR")
    copy.set_defaults(run=_run_copy)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _run_path(args: argparse.Namespace) -> int:
    print(MODULE_PATH)
    return 0


def _run_copy(args: argparse.Namespace) -> int:
    directory: Path = args.dir
    if not directory.is_dir():
        raise CliError(f"not a directory: {directory}")
    target = directory / MODULE_NAME
    if target.is_dir():
        raise CliError(f"{target} is a directory")
    if target.exists() and not args.force:
        if filecmp.cmp(MODULE_PATH, target, shallow=False):
            print(f"{target} is up to date")
            return 0
        raise CliError(f"{target} exists and differs from agenttrace's; use --force to overwrite it")
    try:
        shutil.copyfile(MODULE_PATH, target)
    except OSError as exc:
        raise CliError(f"cannot write {target}: {exc.strerror or exc}") from None
    print(f"copied {MODULE_NAME} to {target}")
    return 0
