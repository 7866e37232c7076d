"""CountingSpanProcessor: spans the SDK's batch queue evicts or the exporter fails are counted exactly."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from agenttrace.export import CountingSpanProcessor


class GatedExporter(SpanExporter):
    """Blocks its first export until released, so the queue behind it fills deterministically."""

    def __init__(self, result: SpanExportResult = SpanExportResult.SUCCESS) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.exported = 0
        self.result = result

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        assert self.release.wait(timeout=30)
        self.exported += len(spans)
        return self.result


def end_spans(provider: TracerProvider, n: int) -> None:
    tracer = provider.get_tracer("t")
    for i in range(n):
        tracer.start_span(f"s{i}").end()


def test_queue_full_evictions_are_counted_and_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    exporter = GatedExporter()
    processor = CountingSpanProcessor(exporter, max_queue_size=10, max_export_batch_size=5, schedule_delay_millis=5)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    end_spans(provider, 5)
    assert exporter.entered.wait(timeout=30)  # the worker took the first batch and is stuck exporting it
    with caplog.at_level(logging.WARNING):
        end_spans(provider, 50)  # 10 fit in the queue, 40 evict older ones
        assert processor.dropped() == {"queue_full": 40, "export_failed": 0, "exit_timeout": 0}
        exporter.release.set()
        provider.shutdown()
    assert exporter.exported == 15
    assert processor.dropped() == {"queue_full": 40, "export_failed": 0, "exit_timeout": 0}
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        "agenttrace: 40 spans were dropped before export (40 queue full, 0 export failed, "
        "0 unsent when the 3.0 s exit budget ran out); raise OTEL_BSP_MAX_QUEUE_SIZE, sample, or check the collector"
    ]
    observed = {dict(o.attributes or {})["error.type"]: o.value for o in processor.observe(None)}  # type: ignore[arg-type]
    assert observed == {"queue_full": 40, "export_failed": 0, "exit_timeout": 0}


def test_failed_exports_are_counted(caplog: pytest.LogCaptureFixture) -> None:
    exporter = GatedExporter(SpanExportResult.FAILURE)
    exporter.release.set()
    processor = CountingSpanProcessor(exporter, max_queue_size=100, max_export_batch_size=10)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    end_spans(provider, 25)
    with caplog.at_level(logging.WARNING):
        provider.shutdown()
    assert processor.dropped() == {"queue_full": 0, "export_failed": 25, "exit_timeout": 0}
    assert [r.getMessage()[:45] for r in caplog.records if r.name == "agenttrace"] == [
        "agenttrace: 25 spans were dropped before expo"
    ]


def test_nothing_dropped_nothing_said(caplog: pytest.LogCaptureFixture) -> None:
    exporter = GatedExporter()
    exporter.release.set()
    processor = CountingSpanProcessor(exporter)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    end_spans(provider, 100)
    with caplog.at_level(logging.WARNING):
        provider.shutdown()
    assert exporter.exported == 100
    assert processor.dropped() == {"queue_full": 0, "export_failed": 0, "exit_timeout": 0}
    assert [r for r in caplog.records if r.name == "agenttrace"] == []


def test_budget_running_out_counts_the_queued_and_in_flight_spans(caplog: pytest.LogCaptureFixture) -> None:
    exporter = GatedExporter()  # never released while the budget runs: a collector that never answers
    processor = CountingSpanProcessor(
        exporter, exit_timeout=0.2, max_queue_size=10, max_export_batch_size=5, schedule_delay_millis=5
    )
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    end_spans(provider, 5)
    assert exporter.entered.wait(timeout=30)  # 5 in flight
    end_spans(provider, 50)  # 10 queued, 40 evicted
    with caplog.at_level(logging.WARNING):
        provider.shutdown()  # the processor's own budget bounds the SDK's shutdown
    assert processor.dropped() == {"queue_full": 40, "export_failed": 0, "exit_timeout": 15}
    assert [r.getMessage() for r in caplog.records if r.name == "agenttrace"] == [
        "agenttrace: 55 spans were dropped before export (40 queue full, 0 export failed, "
        "15 unsent when the 0.2 s exit budget ran out); raise OTEL_BSP_MAX_QUEUE_SIZE, sample, or check the collector"
    ]
    exporter.release.set()  # the abandoned batch completing late changes nothing: it was already counted
    end_spans(provider, 2)  # spans ending after the exit flush are counted too
    assert processor.dropped() == {"queue_full": 40, "export_failed": 0, "exit_timeout": 17}
    assert processor.exported() == 0


def test_budget_is_validated() -> None:
    with pytest.raises(ValueError, match="exit_timeout must be a finite number of seconds >= 0, got -1"):
        CountingSpanProcessor(GatedExporter(), exit_timeout=-1)


def test_budget_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from agenttrace.export._exit import exit_timeout

    assert exit_timeout() == 3.0
    monkeypatch.setenv("AGENTTRACE_EXIT_TIMEOUT", "0.5")
    assert exit_timeout() == 0.5
    assert CountingSpanProcessor(GatedExporter()).exit_timeout == 0.5
    assert exit_timeout(7) == 7.0  # an explicit value wins
    monkeypatch.setenv("AGENTTRACE_EXIT_TIMEOUT", "soon")
    with pytest.raises(
        ValueError, match=r"^agenttrace: AGENTTRACE_EXIT_TIMEOUT must be a number of seconds, got 'soon'$"
    ):
        exit_timeout()
