"""Batched, durable ingest: a group-committed write-ahead log in front of DuckDB.

A request's spans are acknowledged once they are in a fsynced, atomically renamed log segment
(``<db>.ingest/*.jsonl``); a loader thread then moves segments into DuckDB in large transactions and
deletes them. Everything accepted but not yet loaded counts against ``max_pending_spans``; past it,
``submit`` raises ``Overloaded`` so the receivers answer with a retryable status instead of queueing
without bound or dropping spans.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from agenttrace.collector._store import SEGMENT_SUFFIX, SpanStore, _fsync_dir

log = logging.getLogger("agenttrace.collector")


class Overloaded(RuntimeError):
    """Too many spans are waiting to be stored; the client should retry later."""


@dataclass
class IngestStats:
    """Counters of the ingest pipeline."""

    acknowledged_spans: int = 0
    loaded_spans: int = 0
    refused_requests: int = 0


class Ingestor:
    """Accepts encoded span batches, makes them durable, and loads them into the store.

    Args:
        store: The open, read-write store; the loader thread becomes its only user.
        max_pending_spans: Spans accepted but not yet loaded before new requests are refused.
        load_interval: Seconds between loads when the log fills slowly.
        load_threshold: Pending log spans that trigger a load before ``load_interval`` is up.
    """

    def __init__(
        self,
        store: SpanStore,
        *,
        max_pending_spans: int = 1_000_000,
        load_interval: float = 0.5,
        load_threshold: int = 200_000,
    ) -> None:
        self._store = store
        self._max_pending = max_pending_spans
        self._load_interval = load_interval
        self._load_threshold = load_threshold
        self._cond = threading.Condition()
        self._queue: list[tuple[bytes, int, Future[None]]] = []
        self._ready: list[tuple[Path, int]] = []
        self._ready_spans = 0
        self._pending = 0
        self._closing = False
        self._writer_done = False
        self._seq = 0
        self.stats = IngestStats()
        self._writer = threading.Thread(target=self._write_loop, name="agenttrace-wal", daemon=True)
        self._loader = threading.Thread(target=self._load_loop, name="agenttrace-loader", daemon=True)
        self._writer.start()
        self._loader.start()

    def submit(self, line: bytes, spans: int) -> Future[None]:
        """Queue one encoded batch (a JSON line ending in a newline) holding ``spans`` spans.

        Returns:
            A future that completes once the batch is durable (safe to acknowledge).

        Raises:
            Overloaded: Too much is pending, or the collector is shutting down.
        """
        future: Future[None] = Future()
        with self._cond:
            if self._closing:
                self.stats.refused_requests += 1
                raise Overloaded("the collector is shutting down")
            # A single batch bigger than the limit is still taken when nothing is pending.
            if self._pending and self._pending + spans > self._max_pending:
                self.stats.refused_requests += 1
                raise Overloaded(f"{self._pending} spans are waiting to be stored")
            self._pending += spans
            self._queue.append((line, spans, future))
            self._cond.notify_all()
        return future

    @property
    def pending_spans(self) -> int:
        """Spans accepted but not yet in DuckDB."""
        with self._cond:
            return self._pending

    def close(self) -> None:
        """Stop accepting, make everything queued durable, load it, and stop the threads."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._writer.join()
        with self._cond:
            self._writer_done = True
            self._cond.notify_all()
        self._loader.join()

    def _next_segment(self) -> Path:
        self._seq += 1
        return self._store.segments / f"{time.time_ns():020d}-{self._seq:09d}"

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self._closing)
                if not self._queue:
                    return
                items, self._queue = self._queue, []
            spans = sum(n for _, n, _ in items)
            base = self._next_segment()
            final = base.with_suffix(SEGMENT_SUFFIX)
            try:
                tmp = base.with_suffix(".tmp")
                with open(tmp, "wb") as file:
                    file.writelines(line for line, _, _ in items)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(tmp, final)
                _fsync_dir(final.parent)
            except OSError as exc:
                log.error("agenttrace collector: cannot write the ingest log: %s", exc)
                with self._cond:
                    self._pending -= spans
                for _, _, future in items:
                    future.set_exception(exc)
                continue
            with self._cond:
                self._ready.append((final, spans))
                self._ready_spans += spans
                self.stats.acknowledged_spans += spans
                self._cond.notify_all()
            for _, _, future in items:
                future.set_result(None)

    def _load_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._writer_done or self._ready_spans >= self._load_threshold,
                    timeout=self._load_interval,
                )
                batch, self._ready = self._ready, []
                self._ready_spans = 0
                last = self._writer_done
            if batch:
                spans = sum(n for _, n in batch)
                try:
                    self._store.load([path for path, _ in batch])
                except Exception as exc:  # noqa: BLE001 - kept on disk and retried; never lost
                    log.error("agenttrace collector: loading into DuckDB failed (will retry): %s", exc)
                    with self._cond:
                        self._ready[:0] = batch
                        self._ready_spans += spans
                    if last:
                        return
                    continue
                with self._cond:
                    self._pending -= spans
                    self.stats.loaded_spans += spans
            if last:
                with self._cond:
                    if not self._ready:
                        return
