"""HTTP worker processes: decoding is CPU-bound Python, so ``--workers N`` spreads it over N processes.

Each worker serves the shared listening socket with its own uvicorn, decodes requests and writes its
own segments into the common log; the parent process (which holds the DuckDB file) loads them. A
shared counter of spans in unloaded segments gives every process the same back-pressure signal.
"""

from __future__ import annotations

import multiprocessing
import socket
import time
from pathlib import Path
from typing import Any

import uvicorn

from agenttrace.collector._config import CollectorConfig
from agenttrace.collector._forward import OtlpForwarder
from agenttrace.collector._http_server import http_server_config
from agenttrace.collector._receiver import Receiver
from agenttrace.store import Limits
from agenttrace.store._ingest import Ingestor

_SPAWN = multiprocessing.get_context("spawn")


def shared_counter() -> Any:
    """A process-shared 64-bit counter usable as ``Ingestor(backlog=...)``."""
    return _SPAWN.Value("q", 0)


def _serve(sock: socket.socket, config: CollectorConfig, segments: Path, backlog: Any, ready: Any) -> None:
    """Worker process body: serve until SIGTERM/SIGINT (handled by uvicorn), then flush and exit."""
    ingestor = Ingestor(
        segments,
        store=None,
        backlog=backlog,
        max_pending_spans=config.max_pending_spans,
        limits=Limits(config.max_attribute_length, config.max_span_bytes),
    )
    forwarder = OtlpForwarder(config.forward) if config.forward else None
    receiver = Receiver(ingestor, token=config.token, forwarder=forwarder)
    ready.set()
    try:
        uvicorn.Server(http_server_config(config, receiver)).run(sockets=[sock])
    finally:
        if forwarder is not None:
            forwarder.close()
        ingestor.close()


def start_workers(
    sock: socket.socket, config: CollectorConfig, segments: Path, backlog: Any, timeout: float = 120.0
) -> list[Any]:
    """Start ``config.workers`` processes serving ``sock``, logging into ``segments``; return once all are ready.

    Raises:
        RuntimeError: A worker exited or did not get ready in ``timeout`` seconds (the others are stopped).
    """
    workers = []
    events = []
    for index in range(config.workers):
        ready = _SPAWN.Event()
        process = _SPAWN.Process(
            target=_serve, args=(sock, config, segments, backlog, ready), name=f"agenttrace-http-{index}", daemon=True
        )
        process.start()
        workers.append(process)
        events.append(ready)
    deadline = time.monotonic() + timeout
    for process, ready in zip(workers, events, strict=True):
        # Started workers import their modules in parallel; wait without missing an early exit.
        while not ready.wait(0.05):
            if not process.is_alive() or time.monotonic() > deadline:
                stop_workers(workers)
                raise RuntimeError(f"collector worker {process.name} did not start (exit code {process.exitcode})")
    return workers


def stop_workers(workers: list[Any], timeout: float = 30.0) -> None:
    """Ask every worker to finish (SIGTERM: uvicorn drains, the log is flushed) and wait for it."""
    for process in workers:
        if process.is_alive():
            process.terminate()
    for process in workers:
        process.join(timeout)
        if process.is_alive():
            process.kill()
            process.join()
