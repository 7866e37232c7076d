"""``Collector``: the store, the ingest pipeline, both receivers and the forwarder, started and stopped together."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import uvicorn

from agenttrace.collector._config import CollectorConfig
from agenttrace.collector._forward import OtlpForwarder
from agenttrace.collector._http_server import check_http_limits, http_server_config
from agenttrace.collector._otlp_grpc import start_grpc_server
from agenttrace.collector._receiver import Receiver
from agenttrace.collector._workers import shared_counter, start_workers, stop_workers
from agenttrace.store import Limits, SpanStore
from agenttrace.store._ingest import Ingestor


def split_address(address: str) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` too).

    Raises:
        ValueError: ``address`` has no valid port.
    """
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


class Collector:
    """An embedded OTLP trace collector writing to a DuckDB span store.

    Example:
        >>> config = CollectorConfig(db=Path("spans.duckdb"), http="127.0.0.1:0", grpc="127.0.0.1:0")
        >>> with Collector(config) as collector:  # doctest: +SKIP
        ...     print(collector.http_port, collector.grpc_port)
    """

    def __init__(self, config: CollectorConfig) -> None:
        self.config = config
        self.http_port: int | None = None
        self.grpc_port: int | None = None
        self.forwarder: OtlpForwarder | None = None
        self._store: SpanStore | None = None
        self._ingestor: Ingestor | None = None
        self._grpc: Any = None
        self._uvicorn: uvicorn.Server | None = None
        self._http_thread: threading.Thread | None = None
        self._workers: list[Any] = []
        self._socket: socket.socket | None = None

    @property
    def ingestor(self) -> Ingestor:
        """The running ingest pipeline."""
        if self._ingestor is None:
            raise RuntimeError("the collector is not running")
        return self._ingestor

    def start(self) -> None:
        """Open the store (replaying its log), then start listening.

        Raises:
            OSError: An address cannot be bound.
            StoreError: The store cannot be opened.
            ValueError: A setting is invalid.
        """
        config = self.config
        http_address = split_address(config.http) if config.http else None
        if config.forward:
            self.forwarder = OtlpForwarder(config.forward)
        if config.workers < 1:
            raise ValueError("--workers must be at least 1")
        check_http_limits(config)
        limits = Limits(config.max_attribute_length, config.max_span_bytes)
        self._store = SpanStore.open(config.db)
        self._backlog = shared_counter()
        self._ingestor = Ingestor(
            self._store.segments,
            store=self._store,
            backlog=self._backlog,
            max_pending_spans=config.max_pending_spans,
            load_interval=config.load_interval,
            limits=limits,
        )
        receiver = Receiver(self._ingestor, token=config.token, forwarder=self.forwarder)
        try:
            if config.grpc:
                split_address(config.grpc)
                self._grpc, self.grpc_port = start_grpc_server(receiver, config.grpc, max_message=config.max_body)
            if http_address:
                self._start_http(receiver, http_address)
        except BaseException:
            self.stop()
            raise

    def _start_http(self, receiver: Receiver, address: tuple[str, int]) -> None:
        # Binding here (not in uvicorn) makes the port known, and connectable, before start() returns.
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            sock.close()
            raise OSError(f"cannot listen on {address[0]}:{address[1]}: {exc.strerror}") from None
        sock.listen(1024)
        self._socket = sock
        self.http_port = sock.getsockname()[1]
        if self.config.workers > 1:
            assert self._store is not None
            self._workers = start_workers(sock, self.config, self._store.segments, self._backlog)
            return
        server = uvicorn.Server(http_server_config(self.config, receiver))
        self._uvicorn = server
        self._http_thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), name="agenttrace-http", daemon=True
        )
        self._http_thread.start()

    def stop(self) -> None:
        """Stop the receivers, then flush: every acknowledged span ends up in DuckDB."""
        if self._uvicorn is not None and self._http_thread is not None:
            self._uvicorn.should_exit = True
            self._http_thread.join()
            self._uvicorn = None
        stop_workers(self._workers)
        self._workers = []
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._grpc is not None:
            self._grpc.stop(grace=10).wait()
            self._grpc = None
        if self.forwarder is not None and self._ingestor is not None:
            self.forwarder.close()
        if self._ingestor is not None:
            self._ingestor.close()
            self._ingestor = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Collector:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
