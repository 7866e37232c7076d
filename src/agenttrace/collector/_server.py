"""``Collector``: the store, the ingest pipeline, both receivers and the forwarder, started and stopped together."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from typing import Any

import uvicorn

from agenttrace.collector._api import QueryApi
from agenttrace.collector._config import CollectorConfig
from agenttrace.collector._forward import OtlpForwarder
from agenttrace.collector._http_server import check_http_limits, http_server_config
from agenttrace.collector._otlp_grpc import start_grpc_server
from agenttrace.collector._receiver import Receiver
from agenttrace.collector._workers import shared_counter, start_workers, stop_workers
from agenttrace.store import CollectorInfo, Limits, SpanStore
from agenttrace.store._ingest import Ingestor

#: Longest a read waits for the spans acknowledged before it to be loaded (then it reads what is loaded).
_SYNC_TIMEOUT_S = 30.0


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
        #: Port of the query API when it has its own listener (worker processes serve OTLP/HTTP, or HTTP is off).
        self.api_port: int | None = None
        #: Base URL read commands use while this collector holds the store (also in ``<db>.collector``).
        self.api_url: str | None = None
        self.forwarder: OtlpForwarder | None = None
        self._store: SpanStore | None = None
        self._ingestor: Ingestor | None = None
        self._grpc: Any = None
        self._servers: list[tuple[uvicorn.Server, threading.Thread, socket.socket]] = []
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
            api = QueryApi(self._store, receiver.authorized, lambda: self.ingestor.sync(timeout=_SYNC_TIMEOUT_S))
            if http_address:
                self._start_http(receiver, http_address, api)
            if self.api_url is None:  # OTLP/HTTP is served by workers or is off: the API gets its own port
                host = http_address[0] if http_address else "127.0.0.1"
                sock = _listen((host, 0))
                self.api_port = sock.getsockname()[1]
                self._serve(http_server_config(config, None, api), sock)
                self.api_url = _url(host, self.api_port)
            CollectorInfo(os.getpid(), self.api_url).write(config.db)
        except BaseException:
            self.stop()
            raise

    def _start_http(self, receiver: Receiver, address: tuple[str, int], api: QueryApi) -> None:
        sock = _listen(address)
        self._socket = sock
        self.http_port = sock.getsockname()[1]
        if self.config.workers > 1:
            assert self._store is not None
            self._workers = start_workers(sock, self.config, self._store.segments, self._backlog)
            return
        self._serve(http_server_config(self.config, receiver, api), sock)
        self.api_url = _url(address[0], self.http_port)

    def _serve(self, settings: uvicorn.Config, sock: socket.socket) -> None:
        server = uvicorn.Server(settings)
        thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), name="agenttrace-http", daemon=True
        )
        thread.start()
        self._servers.append((server, thread, sock))

    def stop(self) -> None:
        """Stop the receivers, then flush: every acknowledged span ends up in DuckDB."""
        if self.api_url is not None:
            CollectorInfo.remove(self.config.db)
            self.api_url = None
        for server, _, _ in self._servers:
            server.should_exit = True
        for _, thread, sock in self._servers:
            thread.join()
            sock.close()
        self._servers = []
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


def _listen(address: tuple[str, int]) -> socket.socket:
    """A listening socket on ``address``; binding here (not in uvicorn) makes the port known before serving.

    Raises:
        OSError: The address cannot be bound (one line naming it).
    """
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {address[0]}:{address[1]}: {exc.strerror}") from None
    sock.listen(1024)
    return sock


def _url(host: str, port: int) -> str:
    """The base URL local readers use for a listener on ``host`` (a wildcard address is reached on loopback)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
