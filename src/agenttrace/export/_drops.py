"""Span export that never loses a span silently.

The SDK's ``BatchSpanProcessor`` evicts a span when its queue is full and the OTLP exporter gives up on a
batch the collector refuses; the SDK only logs each event. :class:`CountingSpanProcessor` counts both,
exposes them as the ``agenttrace.spans.dropped`` metric and reports the total in one warning at shutdown,
in place of one log line per lost span.

While running, a span is counted as evicted when it arrives at a full queue (the condition under which the
SDK evicts one; a batch taken by the export thread at that very moment can make it off by a few). At
shutdown, once the queue is flushed, the count is made exact by conservation: every sampled span that ended
was either handed to the exporter or evicted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence

from opentelemetry import metrics
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from agenttrace import _names as sc
from agenttrace._guard import logger


class _Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queue_full = 0  # live count of arrivals at a full queue
        self.ended = 0  # sampled spans that entered the queue
        self.handed = 0  # spans given to the exporter
        self.failed = 0  # spans the exporter failed to deliver


class _CountingExporter(SpanExporter):
    """Counts what reaches the real exporter and what it fails to deliver."""

    def __init__(self, inner: SpanExporter, counts: _Counts) -> None:
        self._inner = inner
        self._counts = counts

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        n = len(spans)
        with self._counts.lock:
            self._counts.handed += n
        try:
            result = self._inner.export(spans)
        except Exception:
            with self._counts.lock:
                self._counts.failed += n
            raise
        if result is not SpanExportResult.SUCCESS:
            with self._counts.lock:
                self._counts.failed += n
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class _QueueFullFilter(logging.Filter):
    """Mutes the SDK's per-span "Queue full" line: agenttrace counts those drops and reports the total."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Queue full")


class CountingSpanProcessor(BatchSpanProcessor):
    """A ``BatchSpanProcessor`` whose dropped spans are counted, never lost silently."""

    def __init__(self, exporter: SpanExporter, **kwargs: int | float | None) -> None:
        self._counts = _Counts()
        self._final: dict[str, int] | None = None
        super().__init__(_CountingExporter(exporter, self._counts), **kwargs)  # type: ignore[arg-type]
        logging.getLogger("opentelemetry.sdk._shared_internal").addFilter(_QueueFullFilter())

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is not None and span.context.trace_flags.sampled:
            # The SDK keeps its queue in a bounded deque; appending to a full one evicts the oldest span.
            queue = getattr(getattr(self, "_batch_processor", None), "_queue", None)
            full = queue is not None and queue.maxlen is not None and len(queue) >= queue.maxlen
            super().on_end(span)
            with self._counts.lock:
                self._counts.ended += 1
                self._counts.queue_full += full
            return
        super().on_end(span)

    def dropped(self) -> dict[str, int]:
        """Spans lost so far, by reason: ``queue_full`` (evicted from the queue), ``export_failed``."""
        if self._final is not None:
            return dict(self._final)
        with self._counts.lock:
            return {"queue_full": self._counts.queue_full, "export_failed": self._counts.failed}

    def observe(self, options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        """Callback for the ``agenttrace.spans.dropped`` observable counter."""
        for reason, count in self.dropped().items():
            yield metrics.Observation(count, {sc.ERROR_TYPE: reason})

    def shutdown(self) -> None:
        super().shutdown()  # type: ignore[no-untyped-call]
        counts = self._counts
        with counts.lock:
            self._final = {"queue_full": max(0, counts.ended - counts.handed), "export_failed": counts.failed}
        lost = self.dropped()
        total = sum(lost.values())
        if total:
            logger.warning(
                "agenttrace: %d spans were dropped before export (%d queue full, %d export failed); "
                "raise OTEL_BSP_MAX_QUEUE_SIZE, sample, or check the collector",
                total,
                lost["queue_full"],
                lost["export_failed"],
            )
