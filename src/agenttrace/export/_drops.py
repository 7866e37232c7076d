"""Span export that never loses a span silently, and never holds the process at exit for long.

The SDK's ``BatchSpanProcessor`` evicts a span when its queue is full and the OTLP exporter gives up on a
batch the collector refuses; the SDK only logs each event. :class:`CountingSpanProcessor` counts both,
exposes them as the ``agenttrace.spans.dropped`` metric and reports the total in one warning at shutdown,
in place of one log line per lost span. Its shutdown is bounded by the exit budget: what is still queued or
being exported when the budget runs out is abandoned and counted as ``exit_timeout``.

Accounting is by conservation: every sampled span that ends is either exported, refused by the exporter
(``export_failed``), abandoned at exit (``exit_timeout``), or was evicted from the full queue
(``queue_full``, the remainder). While running, ``queue_full`` counts arrivals at a full queue (the condition
under which the SDK evicts one; a batch taken by the export thread at that very moment can make it off by a
few); at shutdown it is made exact.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

from opentelemetry import metrics
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from agenttrace import _names as sc
from agenttrace._guard import logger
from agenttrace.export._exit import exit_timeout as _exit_timeout
from agenttrace.export._exit import run_bounded
from agenttrace.export._quiet import mute_queue_full

#: Why a span was dropped: the ``error.type`` of the ``agenttrace.spans.dropped`` metric.
REASONS = ("queue_full", "export_failed", "exit_timeout")


class _Counts:
    """Where every sampled span went; one lock, held only for a few increments (and one queue append)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ended = 0  # sampled spans that reached the processor
        self.arrived_full = 0  # of those, arrivals at a full queue (the live estimate of evictions)
        self.exported = 0  # spans the exporter delivered
        self.failed = 0  # spans the exporter failed to deliver
        self.in_flight = 0  # spans inside the exporter right now
        self.abandoned = 0  # spans still queued or in flight when the exit budget ran out, or ended after it
        self.frozen = False  # the budget ran out: whatever the exporter still does no longer counts


class _CountingExporter(SpanExporter):
    """Counts what reaches the real exporter and what it delivers; refuses work once the budget ran out."""

    def __init__(self, inner: SpanExporter, counts: _Counts) -> None:
        self._inner = inner
        self._counts = counts
        self._shut = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        n = len(spans)
        counts = self._counts
        with counts.lock:
            if counts.frozen:  # taken from the queue just as the budget ran out: never sent, counted here
                counts.abandoned += n
                return SpanExportResult.FAILURE
            counts.in_flight += n
        ok = False
        try:
            result = self._inner.export(spans)
            ok = result is SpanExportResult.SUCCESS
            return result
        finally:
            with counts.lock:
                if not counts.frozen:  # once frozen, this batch was already counted as abandoned
                    counts.in_flight -= n
                    if ok:
                        counts.exported += n
                    else:
                        counts.failed += n

    def shutdown(self) -> None:
        if not self._shut:
            self._shut = True
            self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class CountingSpanProcessor(BatchSpanProcessor):
    """A ``BatchSpanProcessor`` whose dropped spans are counted, never lost silently, with a bounded shutdown.

    Args:
        exporter: The span exporter, e.g. ``OTLPSpanExporter()``.
        exit_timeout: Longest time :meth:`shutdown` may take, in seconds; default ``AGENTTRACE_EXIT_TIMEOUT``,
            else 3.
        **kwargs: ``BatchSpanProcessor`` options (``max_queue_size``, ``schedule_delay_millis``, ...).

    Example:
        >>> provider.add_span_processor(CountingSpanProcessor(OTLPSpanExporter()))  # doctest: +SKIP
    """

    def __init__(self, exporter: SpanExporter, *, exit_timeout: float | None = None, **kwargs: Any) -> None:
        self._counts = _Counts()
        self._final: dict[str, int] | None = None
        self._shutdown_lock = threading.Lock()
        self.exit_timeout = _exit_timeout(exit_timeout)
        super().__init__(_CountingExporter(exporter, self._counts), **kwargs)
        mute_queue_full()

    def on_end(self, span: ReadableSpan) -> None:
        if not (span.context is not None and span.context.trace_flags.sampled):
            return
        batch = self._batch_processor
        counts = self._counts
        with counts.lock:  # the append and its count are one step, so the budget can never split them
            counts.ended += 1
            if batch._shutdown:  # noqa: SLF001 - the SDK would drop it silently: it ended after the exit flush began
                counts.abandoned += 1
                if self._final is not None:
                    self._final["exit_timeout"] += 1
                return
            queue = batch._queue  # noqa: SLF001 - the SDK keeps a bounded deque; appending to a full one evicts
            counts.arrived_full += queue.maxlen is not None and len(queue) >= queue.maxlen
            super().on_end(span)

    def dropped(self) -> dict[str, int]:
        """Spans lost so far, by reason: ``queue_full``, ``export_failed``, ``exit_timeout``."""
        if self._final is not None:
            return dict(self._final)
        counts = self._counts
        with counts.lock:
            return {"queue_full": counts.arrived_full, "export_failed": counts.failed, "exit_timeout": counts.abandoned}

    def exported(self) -> int:
        """Spans the exporter delivered so far."""
        with self._counts.lock:
            return self._counts.exported

    def observe(self, options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        """Callback for the ``agenttrace.spans.dropped`` observable counter."""
        for reason, count in self.dropped().items():
            yield metrics.Observation(count, {sc.ERROR_TYPE: reason})

    def shutdown(self, timeout_millis: float | None = None) -> None:
        """Export what is queued within the budget, count the rest as dropped, and warn once if any was.

        Args:
            timeout_millis: The budget in milliseconds; default :attr:`exit_timeout`.
        """
        with self._shutdown_lock:
            if self._final is not None:
                return
            budget = self.exit_timeout if timeout_millis is None else max(0.0, timeout_millis / 1000)
            if not run_bounded(super().shutdown, budget, "span export shutdown"):
                self._abandon()
            self._finalize()
        lost = self.dropped()
        total = sum(lost.values())
        if total:
            logger.warning(
                "agenttrace: %d spans were dropped before export (%d queue full, %d export failed, "
                "%d unsent when the %.1f s exit budget ran out); "
                "raise OTEL_BSP_MAX_QUEUE_SIZE, sample, or check the collector",
                total,
                lost["queue_full"],
                lost["export_failed"],
                lost["exit_timeout"],
                budget,
            )

    def _abandon(self) -> None:
        """The budget ran out: stop the export thread taking more, and count what it has not delivered."""
        batch = self._batch_processor
        counts = self._counts
        with counts.lock:
            batch._shutdown_timeout_exceeded = True  # noqa: SLF001 - the SDK's own "stop exporting" flag
            queued = 0
            while True:
                try:
                    batch._queue.pop()  # noqa: SLF001
                except IndexError:
                    break
                queued += 1
            counts.abandoned += queued + counts.in_flight
            counts.in_flight = 0
            counts.frozen = True

    def _finalize(self) -> None:
        counts = self._counts
        with counts.lock:
            # Conservation: what was neither delivered, refused nor abandoned was evicted from the full queue.
            queued = len(self._batch_processor._queue) + counts.in_flight  # noqa: SLF001 - zero unless abandoned
            counts.abandoned += queued
            evicted = counts.ended - counts.exported - counts.failed - counts.abandoned
            self._final = {
                "queue_full": max(0, evicted),
                "export_failed": counts.failed,
                "exit_timeout": counts.abandoned,
            }
