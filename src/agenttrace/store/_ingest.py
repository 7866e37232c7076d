"""The write side: batched, durable ingest through a group-committed write-ahead log in front of DuckDB.

A request's spans are acknowledged once they are in a fsynced, atomically renamed log segment
(``_log``; lines in the ``_schema`` format); a loader thread then moves segments into DuckDB in large
transactions (``_loader``: DuckDB's CSV reader, no Python per span) and deletes them. Everything
accepted but not yet loaded counts against ``max_pending_spans``; past it, ``submit`` raises
``Overloaded`` so the receivers answer with a retryable status instead of queueing without bound or
dropping spans.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agenttrace.store._limits import Limits
from agenttrace.store._log import SEGMENT_SUFFIX, write_segment
from agenttrace.store._reader import SpanStore

log = logging.getLogger("agenttrace.collector")
_BACKLOG_POLL = 0.02  # seconds between looks at the shared backlog while waiting to load


class Overloaded(RuntimeError):
    """Too many spans are waiting to be stored; the client should retry later."""


@dataclass
class IngestStats:
    """Counters of the ingest pipeline."""

    acknowledged_spans: int = 0
    loaded_spans: int = 0
    refused_requests: int = 0
    quarantined_spans: int = 0  # in segments DuckDB refused, moved to <db>.ingest/rejected/


class Ingestor:
    """Accepts encoded span batches, makes them durable, and (with a store) loads them into DuckDB.

    Several processes can write segments into the same log; the one holding the store loads them all.

    Args:
        segments: The log directory (``SpanStore.segments``).
        store: The open, read-write store, or ``None`` in a writer-only (worker) process. The loader
            thread becomes the store's only user.
        backlog: Spans in log segments not yet loaded, shared by every process writing the log
            (a ``multiprocessing.Value("q")``); a private counter when omitted.
        max_pending_spans: Spans accepted but not yet loaded before new requests are refused.
        load_interval: Seconds between loads when the log fills slowly.
        load_threshold: Spans waiting in the log (from every process) that trigger a load before
            ``load_interval`` is up.
        limits: Size limits applied when requests are turned into log lines (``to_batch``).
    """

    def __init__(
        self,
        segments: Path,
        *,
        store: SpanStore | None,
        backlog: Any = None,
        max_pending_spans: int = 1_000_000,
        load_interval: float = 0.5,
        load_threshold: int = 20_000,
        limits: Limits | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self._segments = segments
        self._store = store
        self._backlog = backlog if backlog is not None else multiprocessing.get_context("spawn").Value("q", 0)
        self._max_pending = max_pending_spans
        self._load_interval = load_interval
        self._load_threshold = load_threshold
        self._cond = threading.Condition()
        self._queue: list[tuple[bytes, int, Future[None]]] = []
        self._queued = 0
        self._closing = False
        self._writer_done = False
        self._seq = 0
        self.stats = IngestStats()
        self._writer = threading.Thread(target=self._write_loop, name="agenttrace-wal", daemon=True)
        self._writer.start()
        self._load_requested = False
        self._loads_started = self._loads_done = 0
        self._loader: threading.Thread | None = None
        if store is not None:
            store.prepare_for_ingest()
            self._loader = threading.Thread(target=self._load_loop, name="agenttrace-loader", daemon=True)
            self._loader.start()

    def submit(self, lines: bytes, spans: int) -> Future[None]:
        """Queue the log lines (see ``_schema``) of ``spans`` spans.

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
            pending = self._queued + self._backlog.value
            # A single batch bigger than the limit is still taken when nothing is pending.
            if pending and pending + spans > self._max_pending:
                self.stats.refused_requests += 1
                raise Overloaded(f"{pending} spans are waiting to be stored")
            self._queued += spans
            self._queue.append((lines, spans, future))
            self._cond.notify_all()
        return future

    @property
    def pending_spans(self) -> int:
        """Spans accepted but not yet in DuckDB."""
        with self._cond:
            return int(self._queued + self._backlog.value)

    def wait_stored(self, spans: int, timeout: float) -> bool:
        """Wait until ``spans`` spans in all were loaded or set aside (``stats``); return whether they were."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self.stats.loaded_spans + self.stats.quarantined_spans >= spans, timeout=timeout
            )

    def sync(self, timeout: float) -> bool:
        """Load now: when this returns ``True``, every span acknowledged before the call is in DuckDB.

        Read commands call it so that a reader sees what the collector had acknowledged when the read began
        (read-your-writes), without waiting for ``load_interval``. ``False`` when ``timeout`` ran out first.
        """
        if self._loader is None:
            return False
        with self._cond:
            target = self._loads_started + 1  # a load that starts from now on sees every segment on disk now
            self._load_requested = True
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._loads_done >= target or self._writer_done, timeout=timeout)

    def close(self) -> None:
        """Stop accepting, make everything queued durable, load the whole log (with a store), stop."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._writer.join()
        with self._cond:
            self._writer_done = True
            self._cond.notify_all()
        if self._loader is not None:
            self._loader.join()

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self._closing)
                if not self._queue:
                    return
                items, self._queue = self._queue, []
            spans = sum(n for _, n, _ in items)
            self._seq += 1
            try:
                write_segment(self._segments, [lines for lines, _, _ in items], spans, self._seq)
            except OSError as exc:
                log.error("agenttrace collector: cannot write the ingest log: %s", exc)
                with self._cond:
                    self._queued -= spans
                for _, _, future in items:
                    future.set_exception(exc)
                continue
            with self._backlog.get_lock():
                self._backlog.value += spans
            with self._cond:
                self._queued -= spans
                self.stats.acknowledged_spans += spans
                self._cond.notify_all()
            for _, _, future in items:
                future.set_result(None)

    def _load_loop(self) -> None:
        assert self._store is not None
        while True:
            # Load every load_interval, and as soon as load_threshold spans are waiting (counted over every
            # process writing the log): under load, each load then takes what arrived during the previous
            # one, so DuckDB works while the receivers do and little is left to load at the end.
            deadline = time.monotonic() + self._load_interval
            with self._cond:
                while not self._writer_done and not self._load_requested and self._backlog.value < self._load_threshold:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(min(remaining, _BACKLOG_POLL))
                last = self._writer_done
                self._load_requested = False
                self._loads_started += 1
                generation = self._loads_started
            try:
                self._load_once()
            finally:
                with self._cond:
                    self._loads_done = generation
                    self._cond.notify_all()
            if last:
                return

    def _load_once(self) -> None:
        """Load every segment on disk now; on failure they stay on disk for the next load (never lost)."""
        assert self._store is not None
        files = sorted(self._segments.glob("*" + SEGMENT_SUFFIX))
        if not files:
            return
        try:
            result = self._store.load_or_set_aside(files)
        except Exception as exc:  # noqa: BLE001 - kept on disk and retried; never lost
            log.error("agenttrace collector: loading into DuckDB failed (will retry): %s", _first_line(exc))
            return
        with self._backlog.get_lock():
            self._backlog.value -= result.loaded_spans + result.quarantined_spans
        with self._cond:
            self.stats.loaded_spans += result.loaded_spans
            self.stats.quarantined_spans += result.quarantined_spans
            self._cond.notify_all()


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().partition("\n")[0][:300]
