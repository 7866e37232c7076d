"""What every subcommand shares: the expected-failure exception and the optional-extra import."""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

Subparsers = Any  # argparse._SubParsersAction is private
COLLECTOR_EXTRA = "pip install 'agenttrace[collector]'"


class CliError(Exception):
    """An expected failure; its message is printed as one line."""


def need(module: str, extra: str = COLLECTOR_EXTRA) -> ModuleType:
    """Import ``module``, or fail with one line saying which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise CliError(f"this command needs optional packages ({exc.name} is missing): {extra}") from None


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """``--db`` / ``--collector`` / ``--token``: where a read command finds the spans."""
    parser.add_argument(
        "--db", type=Path, default=Path("agenttrace.duckdb"), help="span store file (default: %(default)s)"
    )
    parser.add_argument(
        "--collector",
        metavar="URL",
        help="read from the running collector at URL (found by itself when it holds --db)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("AGENTTRACE_COLLECTOR_TOKEN"),
        help="the collector's bearer token (default: $AGENTTRACE_COLLECTOR_TOKEN)",
    )


@contextmanager
def open_source(args: argparse.Namespace) -> Iterator[Any]:
    """The store named by :func:`add_source_arguments`, stopped or held by a running collector."""
    store = need("agenttrace.store")
    try:
        reader = store.open_reader(args.db, collector=args.collector, token=args.token or None)
    except store.StoreError as exc:
        raise CliError(str(exc)) from None
    try:
        yield reader
    except store.StoreError as exc:
        raise CliError(str(exc)) from None
    finally:
        reader.close()
