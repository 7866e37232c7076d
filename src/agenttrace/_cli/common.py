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


def add_source_arguments(parser: argparse.ArgumentParser, *, external: bool = False) -> None:
    """``--db`` / ``--collector`` / ``--token``: where a read command finds the spans.

    With ``external``, also ``--jaeger`` / ``--otlp-json`` / ``--clickhouse`` (each excluding ``--db``) and the
    window and service they are searched by (see ``_cli/sources.py``).
    """
    where = parser.add_mutually_exclusive_group() if external else parser
    where.add_argument(
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
    if external:
        where.add_argument("--jaeger", metavar="URL", help="read from Jaeger v2's query API at URL (needs --service)")
        where.add_argument(
            "--otlp-json",
            nargs="+",
            type=Path,
            metavar="FILE",
            help="read OTLP/JSON files (the Collector's file exporter)",
        )
        where.add_argument(
            "--clickhouse", metavar="URL", help="read ClickHouse's otel_traces at http://host:8123[/database[/table]]"
        )
        parser.add_argument("--service", metavar="NAME", help="with --jaeger: the service whose traces to search")
        parser.add_argument(
            "--since",
            metavar="TIME",
            help="with --jaeger/--clickhouse: window start, RFC 3339 or a time ago like 90m, 2h, 1d "
            "(default for --jaeger: 1h; --clickhouse: no window)",
        )
        parser.add_argument("--until", metavar="TIME", help="window end, like --since (default: now)")


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
