"""The ``agenttrace`` command line: ``agenttrace collector`` and ``agenttrace runs``.

Each subcommand is one registrar in ``COMMANDS``: a function that adds its parser to the subparsers and
sets ``run`` (``args -> exit code``) as the parser default. Expected failures raise ``CliError`` and
end as one line on stderr with exit code 1.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

Subparsers = Any  # argparse._SubParsersAction is private
COLLECTOR_EXTRA = "pip install 'agenttrace[collector]'"


class CliError(Exception):
    """An expected failure; its message is printed as one line."""


def _collector_module() -> ModuleType:
    try:
        import agenttrace.collector as module
    except ImportError as exc:
        raise CliError(f"the collector needs optional packages ({exc.name} is missing): {COLLECTOR_EXTRA}") from None
    return module


def _address(value: str) -> str | None:
    return None if value.lower() in ("off", "none", "") else value


def _add_collector(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "collector",
        help="receive OTLP traces (HTTP and gRPC) into a DuckDB span store",
        description="Receive OTLP traces over HTTP (/v1/traces, protobuf or JSON) and gRPC into a DuckDB file.",
    )
    parser.add_argument("--db", type=Path, default=Path("agenttrace.duckdb"), help="span store file")
    parser.add_argument("--http", default="127.0.0.1:4318", help="OTLP/HTTP address HOST:PORT, or 'off'")
    parser.add_argument("--grpc", default="127.0.0.1:4317", help="OTLP/gRPC address HOST:PORT, or 'off'")
    parser.add_argument("--forward", metavar="URL", help="also send everything received to this OTLP/HTTP endpoint")
    parser.add_argument(
        "--token",
        default=os.environ.get("AGENTTRACE_COLLECTOR_TOKEN"),
        help="require 'Authorization: Bearer TOKEN' (default: $AGENTTRACE_COLLECTOR_TOKEN)",
    )
    parser.add_argument("--max-body", type=int, default=16 * 1024 * 1024, metavar="BYTES", help="largest request body")
    parser.add_argument(
        "--max-pending-spans", type=int, default=1_000_000, help="spans waiting to be stored before refusing (503)"
    )
    parser.add_argument(
        "--load-interval",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="how often logged spans move into DuckDB (also as soon as 20,000 spans wait)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="HTTP receiver processes (decoding is CPU-bound; try the core count)"
    )
    parser.set_defaults(run=_run_collector)


def _run_collector(args: argparse.Namespace) -> int:
    module = _collector_module()
    config = module.CollectorConfig(
        db=args.db,
        http=_address(args.http),
        grpc=_address(args.grpc),
        forward=args.forward,
        token=args.token or None,
        max_body=args.max_body,
        max_pending_spans=args.max_pending_spans,
        load_interval=args.load_interval,
        workers=args.workers,
    )
    if config.http is None and config.grpc is None:
        raise CliError("both receivers are off: give --http or --grpc an address")
    collector = module.Collector(config)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            collector.start()
        except (OSError, ValueError, module.StoreError) as exc:
            raise CliError(str(exc)) from None
        print(f"agenttrace collector: storing spans in {config.db}", flush=True)
        if collector.http_port is not None:
            host = config.http.rpartition(":")[0] or "127.0.0.1"
            print(f"listening on http://{host}:{collector.http_port} (OTLP/HTTP)", flush=True)
        if collector.grpc_port is not None:
            host = config.grpc.rpartition(":")[0] or "127.0.0.1"
            print(f"listening on grpc://{host}:{collector.grpc_port} (OTLP/gRPC)", flush=True)
        if collector.forwarder is not None:
            print(f"forwarding to {collector.forwarder.url}", flush=True)
        stop.wait()
        stats = collector.ingestor.stats
        collector.stop()
        print(f"stopped: {stats.loaded_spans} spans stored, {stats.refused_requests} requests refused", flush=True)
        return 0
    finally:
        collector.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _add_runs(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("runs", help="list the load runs in a span store")
    parser.add_argument("--db", type=Path, default=Path("agenttrace.duckdb"), help="span store file")
    parser.set_defaults(run=_run_runs)


def _run_runs(args: argparse.Namespace) -> int:
    module = _collector_module()
    if not args.db.exists():
        raise CliError(f"no span store at {args.db}")
    try:
        with module.SpanStore.open(args.db) as store:
            runs = store.list_runs()
    except module.StoreError as exc:
        raise CliError(str(exc)) from None
    if not runs:
        print(f"no spans in {args.db}")
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


COMMANDS: dict[str, Callable[[Subparsers], None]] = {
    "collector": _add_collector,
    "runs": _add_runs,
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


if __name__ == "__main__":
    sys.exit(main())
