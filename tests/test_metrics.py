"""Metrics through the OpenTelemetry metrics API, with low-cardinality attributes only."""

from __future__ import annotations

import asyncio

import pytest

import agenttrace
from agenttrace.testing import Capture


@agenttrace.stage("llm_call", model="gpt-4o-mini", provider="openai")
async def call_llm(fail: bool) -> str:
    agenttrace.record_usage(input_tokens=100, output_tokens=7)
    if fail:
        raise TimeoutError("provider timeout")
    return "ok"


@agenttrace.stage("context_load")
async def load() -> None:
    await asyncio.sleep(0)


async def test_genai_and_stage_metrics(agenttrace_capture: Capture) -> None:
    for i in range(3):
        async with agenttrace.request("job", run_id="run-1", user=f"user-{i}"):
            await load()
            await call_llm(fail=False)
            with pytest.raises(TimeoutError):
                await call_llm(fail=True)
    with agenttrace.stage("context_load"):  # outside any request: no run id
        pass

    base = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini"}
    failed = {**base, "error.type": "TimeoutError"}
    assert agenttrace_capture.metrics() == {
        "agenttrace.stage.duration": [
            ({"agenttrace.stage": "context_load", "agenttrace.run_id": "run-1"}, 3),
            ({"agenttrace.stage": "llm_call", "agenttrace.run_id": "run-1"}, 3),
            ({"agenttrace.stage": "llm_call", "agenttrace.run_id": "run-1", "error.type": "TimeoutError"}, 3),
            ({"agenttrace.stage": "context_load"}, 1),
        ],
        "gen_ai.client.operation.duration": [(base, 3), (failed, 3)],
        "gen_ai.client.token.usage": [
            ({**base, "gen_ai.token.type": "input"}, 3),
            ({**base, "gen_ai.token.type": "output"}, 3),
            ({**failed, "gen_ai.token.type": "input"}, 3),
            ({**failed, "gen_ai.token.type": "output"}, 3),
        ],
    }


def test_explicit_providers_are_used(agenttrace_capture: Capture) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])

    @agenttrace.stage("plan", tracer_provider=tracer_provider, meter_provider=meter_provider)
    def plan() -> None:
        pass

    plan()
    assert [s.name for s in exporter.get_finished_spans()] == ["plan"]
    assert agenttrace_capture.spans() == []
    data = reader.get_metrics_data()
    assert data is not None
    names = [m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
    assert names == ["agenttrace.stage.duration"]
