"""``agenttrace collector``: run the embedded OTLP collector until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path

from agenttrace._cli.common import CliError, Subparsers, need
from agenttrace.collector._config import CollectorConfig

_DEFAULTS = CollectorConfig()


def _address(value: str) -> str | None:
    return None if value.lower() in ("off", "none", "") else value


def register(subparsers: Subparsers) -> None:
    """Add ``agenttrace collector``."""
    parser = subparsers.add_parser(
        "collector",
        help="receive OTLP traces (HTTP and gRPC) into a DuckDB span store",
        description="Receive OTLP traces over HTTP (/v1/traces, protobuf or JSON) and gRPC into a DuckDB file.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--db", type=Path, default=_DEFAULTS.db, help="span store file")
    add("--http", default=_DEFAULTS.http, help="OTLP/HTTP address HOST:PORT, or 'off'")
    add("--grpc", default=_DEFAULTS.grpc, help="OTLP/gRPC address HOST:PORT, or 'off'")
    add("--forward", metavar="URL", help="also send everything received to this OTLP/HTTP endpoint")
    add(
        "--token",
        default=os.environ.get("AGENTTRACE_COLLECTOR_TOKEN"),
        help="require 'Authorization: Bearer TOKEN' (default: $AGENTTRACE_COLLECTOR_TOKEN)",
    )
    add("--max-body", type=int, default=_DEFAULTS.max_body, metavar="BYTES", help="largest request body")
    add("--max-pending-spans", type=int, default=_DEFAULTS.max_pending_spans, help="spans waiting before 503")
    add(
        "--load-interval",
        type=float,
        default=_DEFAULTS.load_interval,
        metavar="SECONDS",
        help="how often logged spans move into DuckDB (also as soon as 20,000 spans wait)",
    )
    add("--workers", type=int, default=_DEFAULTS.workers, help="HTTP receiver processes (try the core count)")
    # Store size limits.
    add(
        "--max-attribute-length",
        type=int,
        default=_DEFAULTS.max_attribute_length,
        metavar="CHARS",
        help="trim longer string attribute values (default from $OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT when set)",
    )
    add(
        "--max-span-bytes",
        type=int,
        default=_DEFAULTS.max_span_bytes,
        metavar="BYTES",
        help="reject larger spans (after trimming) with an OTLP partial success",
    )
    add(
        "--ui",
        action=argparse.BooleanOptionalAction,
        default=_DEFAULTS.ui,
        help="serve the live page at /ui/ (on the query API's port)",
    )
    _add_http_limits(parser)
    parser.set_defaults(run=_run_collector)


def _add_http_limits(parser: argparse.ArgumentParser) -> None:
    """The HTTP receiver's limits on slow, idle and oversized clients."""
    group = parser.add_argument_group("HTTP receiver limits")
    add = group.add_argument
    add(
        "--read-timeout",
        type=float,
        default=_DEFAULTS.read_timeout,
        metavar="SECONDS",
        help="time to send a request head, and between reads of a body (then 408)",
    )
    add(
        "--keepalive-timeout",
        type=float,
        default=_DEFAULTS.keepalive_timeout,
        metavar="SECONDS",
        help="idle keep-alive connections are closed after this",
    )
    add("--max-header-bytes", type=int, default=_DEFAULTS.max_header_bytes, help="largest request head (then 431)")
    add("--max-connections", type=int, default=_DEFAULTS.max_connections, help="open connections (beyond: 503)")


def _run_collector(args: argparse.Namespace) -> int:
    module = need("agenttrace.collector._server")
    store = need("agenttrace.store")
    config = CollectorConfig(
        db=args.db,
        http=_address(args.http),
        grpc=_address(args.grpc),
        forward=args.forward,
        token=args.token or None,
        max_body=args.max_body,
        max_pending_spans=args.max_pending_spans,
        load_interval=args.load_interval,
        workers=args.workers,
        max_attribute_length=args.max_attribute_length,
        max_span_bytes=args.max_span_bytes,
        read_timeout=args.read_timeout,
        keepalive_timeout=args.keepalive_timeout,
        max_header_bytes=args.max_header_bytes,
        max_connections=args.max_connections,
        ui=args.ui,
    )
    if config.http is None and config.grpc is None:
        raise CliError("both receivers are off: give --http or --grpc an address")
    collector = module.Collector(config)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            collector.start()
        except (OSError, ValueError, store.StoreError) as exc:
            raise CliError(str(exc)) from None
        print(f"agenttrace collector: storing spans in {config.db}", flush=True)
        if collector.http_port is not None:
            host = (config.http or "").rpartition(":")[0] or "127.0.0.1"
            print(f"listening on http://{host}:{collector.http_port} (OTLP/HTTP)", flush=True)
        if collector.grpc_port is not None:
            host = (config.grpc or "").rpartition(":")[0] or "127.0.0.1"
            print(f"listening on grpc://{host}:{collector.grpc_port} (OTLP/gRPC)", flush=True)
        if collector.api_port is not None:
            print(f"query API on {collector.api_url}", flush=True)
        if config.ui and collector.api_url is not None:
            print(f"live page on {collector.api_url}/ui/", flush=True)
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
