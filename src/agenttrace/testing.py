"""Capture agenttrace's spans and metrics in memory, for your own tests.

Example:
    >>> from agenttrace.testing import capture
    >>> with capture() as cap:  # doctest: +SKIP
    ...     run_my_agent()
    >>> cap.tree()  # doctest: +SKIP

With pytest, the ``agenttrace_capture`` fixture does the same for one test.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agenttrace import _names as sc
from agenttrace._instrument import providers as _providers

#: Attributes whose values are measured times; :meth:`Capture.spans` replaces them with ``"<duration>"``.
TIMING_ATTRIBUTES = frozenset({sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, sc.STAGE_DURATIONS, sc.TIME_TO_FIRST_BYTE})
DURATION = "<duration>"


class Capture:
    """Spans and metrics recorded while a :func:`capture` block is active."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider(resource=Resource.create({sc.SERVICE_NAME: "test"}))
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.metric_reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metric_reader])

    def finished_spans(self) -> Sequence[ReadableSpan]:
        """The raw finished spans, in the order they ended."""
        return self.exporter.get_finished_spans()

    def clear(self) -> None:
        """Forget the spans captured so far."""
        self.exporter.clear()

    def spans(self) -> list[dict[str, Any]]:
        """Finished spans as plain dicts, in end order, with ids and times made deterministic.

        Span ids become ``1, 2, ...`` in start order, trace ids ``1, 2, ...`` in order of appearance,
        and timing attributes ``"<duration>"`` (after checking they hold non-negative numbers).
        """
        finished = list(self.finished_spans())
        by_start = sorted(finished, key=lambda s: s.start_time or 0)
        span_ids = {s.context.span_id: i for i, s in enumerate(by_start, 1) if s.context is not None}
        trace_ids: dict[int, int] = {}
        out = []
        for span in finished:
            assert span.context is not None
            trace_no = trace_ids.setdefault(span.context.trace_id, len(trace_ids) + 1)
            parent = span.parent.span_id if span.parent is not None else None
            out.append(
                {
                    "name": span.name,
                    "kind": span.kind.name,
                    "trace": trace_no,
                    "id": span_ids[span.context.span_id],
                    "parent": span_ids.get(parent, "remote") if parent is not None else None,
                    "status": span.status.status_code.name,
                    "attributes": _normalise(dict(span.attributes or {})),
                    "events": [e.name for e in span.events],
                }
            )
        return out

    def tree(self) -> list[dict[str, Any]]:
        """Finished spans nested under their parents, children in start order, without ids.

        Each node is ``{"name", "kind", "status", "attributes", "events", "children"}``.
        """
        flat = sorted(self.spans(), key=lambda s: s["id"])
        nodes = {s["id"]: {**_without(s, ("id", "trace", "parent")), "children": []} for s in flat}
        roots = []
        for span in flat:
            parent = span["parent"]
            if isinstance(parent, int) and parent in nodes:
                nodes[parent]["children"].append(nodes[span["id"]])
            else:
                roots.append(nodes[span["id"]])
        return roots

    def metrics(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """Metric points by name: ``{name: [(attributes, count or value), ...]}`` (histograms give counts)."""
        data = self.metric_reader.get_metrics_data()
        result: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        if data is None:
            return result
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    points = result.setdefault(metric.name, [])
                    for point in metric.data.data_points:
                        value = getattr(point, "count", None)
                        if value is None:
                            value = getattr(point, "value", None)
                        points.append((dict(point.attributes or {}), value))
        return result


def _without(d: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in keys}


def _normalise(attributes: dict[str, Any]) -> dict[str, Any]:
    for key in TIMING_ATTRIBUTES & attributes.keys():
        value = attributes[key]
        values = value if isinstance(value, tuple) else (value,)
        assert all(isinstance(v, (int, float)) and v >= 0 for v in values), (key, value)
        attributes[key] = tuple(DURATION for _ in values) if isinstance(value, tuple) else DURATION
    return attributes


@contextmanager
def capture() -> Iterator[Capture]:
    """Route agenttrace's spans and metrics into memory for the duration of the block."""
    cap = Capture()
    _providers.set_overrides(cap.tracer_provider, cap.meter_provider)
    try:
        yield cap
    finally:
        _providers.set_overrides(None, None)
        cap.tracer_provider.shutdown()
        cap.meter_provider.shutdown()
