"""Each knob makes exactly its stage the bottleneck: the slowest stage under concurrent load, and the one that grew.

Per scenario, every stage's mean span duration at concurrency 1 is compared with concurrency 16. The limits
are tight enough that the ratios are large (about 8x and more), and the asserts ask for much less, so the
test holds on a loaded machine; no absolute time is asserted.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from agenttrace.testing import Capture
from tests.conftest import SpanWaiter
from tests.examples.conftest import FAST_MODEL, agent_service, client, new_session, send

CONCURRENCY = 16
SEQUENTIAL = 4
MIN_GROWTH = 3.0
MESSAGE = "Look up order #12345"  # context_load, llm_call, tool_call, llm_call, memory_save

SCENARIOS: dict[str, dict[str, Any]] = {
    # One connection, held for the whole turn: everyone else waits in context_load.
    "context_load": {"settings": {"db_pool_size": 1, "db_latency_s": 0.005}},
    # One generation at a time at the model: calls queue there.
    "llm_call": {"model": dataclasses.replace(FAST_MODEL, ttft_s=0.02, capacity=1)},
    # One call at a time at a slow tool backend.
    "tool_call": {"settings": {"tool_latency_s": 0.02, "tool_concurrency": 1}},
}


def mean_durations(spans: Sequence[ReadableSpan]) -> dict[str, float]:
    """Mean duration (seconds) of each stage's spans."""
    durations: dict[str, list[float]] = defaultdict(list)
    for span in spans:
        stage = (span.attributes or {}).get("agenttrace.stage")
        if isinstance(stage, str) and span.end_time is not None and span.start_time is not None:
            durations[stage].append((span.end_time - span.start_time) / 1e9)
    return {stage: sum(values) / len(values) for stage, values in durations.items()}


@pytest.mark.parametrize("bottleneck", list(SCENARIOS))
async def test_the_knob_makes_its_stage_the_slowest_under_load(
    agenttrace_capture: Capture, ended_spans: SpanWaiter, bottleneck: str
) -> None:
    scenario = SCENARIOS[bottleneck]
    with agent_service(scenario.get("model", FAST_MODEL), **scenario.get("settings", {})) as base_url:
        async with client(CONCURRENCY) as http:
            sessions = [await new_session(http, base_url) for _ in range(1 + SEQUENTIAL + CONCURRENCY)]
            warm_up, sequential, concurrent = sessions[0], sessions[1 : 1 + SEQUENTIAL], sessions[1 + SEQUENTIAL :]
            done = len(sessions)

            async def phase(ids: list[str], at_once: bool) -> list[ReadableSpan]:
                nonlocal done
                before = len(ended_spans.wait_for_kind("SERVER", done))
                if at_once:
                    responses = await asyncio.gather(*(send(http, base_url, s, MESSAGE) for s in ids))
                else:
                    responses = [await send(http, base_url, s, MESSAGE) for s in ids]
                assert [r.status_code for r in responses] == [200] * len(ids)
                done += len(ids)
                return ended_spans.wait_for_kind("SERVER", done)[before:]

            await phase([warm_up], at_once=False)  # the first model call also opens the connection
            alone = mean_durations(await phase(sequential, at_once=False))
            loaded = mean_durations(await phase(concurrent, at_once=True))

    stages = {"context_load", "llm_call", "tool_call", "memory_save"}
    assert alone.keys() == loaded.keys() == stages
    growth = {stage: loaded[stage] / alone[stage] for stage in stages}
    report = f"alone={alone} loaded={loaded} growth={growth}"
    assert max(loaded, key=lambda s: loaded[s]) == bottleneck, report
    assert growth[bottleneck] >= MIN_GROWTH, report
