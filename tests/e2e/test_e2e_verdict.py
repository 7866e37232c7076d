"""The saturation verdict on real load runs: each bottleneck knob of the example service names its stage.

Each case starts ``python -m examples.agent_service`` with one knob, exporting to the embedded collector, and
drives it with a stepped closed-loop ramp on 127.0.0.1: 1, 2, 4 (then 8) clients sending messages back to back,
a fixed number per step (every message runs context_load, llm_call, tool_call, llm_call, memory_save). After
SIGTERM flushes the spans, the report of the run must give the exact verdict: the throttled stage, or "none"
when nothing is throttled, including when one stage is slow at every load (slow is not saturated).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from agenttrace._loadrun.propagation import baggage
from agenttrace.collector import Collector
from agenttrace.report.api import store_report
from agenttrace.store import SpanStore
from tests.e2e.conftest import AgentService

pytestmark = pytest.mark.slow
RUN_ID = "e2e-verdict"
MESSAGE = "Look up order #12345"  # context_load, llm_call, tool_call, llm_call, memory_save
#: (clients, messages sent at that level): each step doubles the requests in flight, each bin gets 20 or more.
#: Unthrottled, the ramp stops at 4 clients: the service process (agent, simulated model and exporter under one
#: GIL) spends about 25 ms of CPU per message, so more clients would make the process itself the bottleneck
#: (every stage gains alike: a "process" verdict, rightly). A throttled run is capped by its knob at a rate the
#: process serves easily, so it goes on to 8 clients, where the throttled stage's growth is far from the bar.
RAMP = ((1, 22), (2, 20), (4, 32))
THROTTLED_RAMP = (*RAMP, (8, 32))
RAMP_TIMEOUT_S = 60
#: Calls of each stage per message.
CALLS = {"context_load": 1, "llm_call": 2, "tool_call": 1, "memory_save": 1}


@dataclass(frozen=True)
class Case:
    """Knobs of the service (its flags: they win over FAST's), the ramp, and the verdict the ramp must give."""

    knobs: dict[str, str]
    steps: tuple[tuple[int, int], ...]
    kind: str
    stage: str | None = None

    def flags(self) -> list[str]:
        """``--name value`` for each knob, after BASE's (the last of a repeated flag wins)."""
        knobs = {**BASE, **self.knobs}
        return [item for name, value in knobs.items() for item in (f"--{name}", value)]

    @property
    def requests(self) -> int:
        """The run's requests."""
        return sum(messages for _, messages in self.steps)


#: Quick stages: only the knob of a case costs much time.
BASE = {"model-ttft-s": "0.01", "tool-latency-s": "0.01", "db-latency-s": "0.001"}
CASES = {
    # One generation at a time at the model: the other callers queue inside llm_call.
    "llm": Case({"model-capacity": "1", "model-ttft-s": "0.05"}, THROTTLED_RAMP, "stage", "llm_call"),
    # One tool call at a time: tool_call queues.
    "tool": Case({"tool-concurrency": "1", "tool-latency-s": "0.08"}, THROTTLED_RAMP, "stage", "tool_call"),
    # One pooled connection, held for the whole turn: every other turn waits for it in context_load.
    "context_load": Case({"db-pool-size": "1"}, THROTTLED_RAMP, "stage", "context_load"),
    # Nothing throttled; the model and the tools take long enough that the process stays under a third busy.
    "none": Case({"model-ttft-s": "0.05", "tool-latency-s": "0.05"}, RAMP, "none"),
    # One slow stage, unlimited: slow at every load is not saturated.
    "slow tool": Case({"tool-latency-s": "0.2"}, RAMP, "none"),
    "slow model": Case({"model-ttft-s": "0.1"}, RAMP, "none"),
}


async def ramp(url: str, steps: tuple[tuple[int, int], ...]) -> Counter[int]:
    """The stepped closed-loop load; the status codes of the run's requests.

    Clients join as the steps go and never pause: a drained step would start the next one's first request alone
    in flight, and it would then wait behind the others in the "unloaded" bin.
    """
    ends = list(itertools.accumulate(messages for _, messages in steps))
    reached = [asyncio.Event() for _ in steps]
    statuses: Counter[int] = Counter()
    sent = 0
    top = steps[-1][0]
    limits = httpx.Limits(max_connections=top, max_keepalive_connections=top)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        # Sessions and a warm-up message (the model client's first connection) outside the run: no baggage.
        sessions = [(await http.post("/api/sessions")).json()["session_id"] for _ in range(top)]
        assert (await http.post(f"/api/sessions/{sessions[0]}/messages", json={"content": MESSAGE})).status_code == 200

        async def client(index: int) -> None:
            nonlocal sent
            headers = {"baggage": baggage(RUN_ID, "ramp", f"u-{index}")}
            while sent < ends[-1]:
                sent += 1
                for step, end in enumerate(ends):
                    if sent == end:
                        reached[step].set()
                response = await http.post(
                    f"/api/sessions/{sessions[index]}/messages", json={"content": MESSAGE}, headers=headers
                )
                statuses[response.status_code] += 1

        running: list[asyncio.Task[None]] = []
        for step, (clients, _) in enumerate(steps):
            running += [asyncio.create_task(client(index)) for index in range(len(running), clients)]
            await reached[step].wait()
        await asyncio.gather(*running)
    return statuses


@pytest.mark.parametrize("name", list(CASES))
def test_the_verdict_names_the_throttled_stage_or_none(
    collector: Collector, agent_service: Callable[..., AgentService], name: str
) -> None:
    case = CASES[name]
    service = agent_service(*case.flags())
    statuses = asyncio.run(asyncio.wait_for(ramp(service.url, case.steps), RAMP_TIMEOUT_S))
    service.stop()
    collector.stop()
    with SpanStore.open(collector.config.db) as store:
        report = store_report(store, RUN_ID)

    # Every message of the run answered, stored, and ran its five stage calls.
    assert statuses == {200: case.requests}
    assert (report.overview.requests, report.overview.errors, report.overview.rate_limited) == (case.requests, 0, 0)
    assert {item.stage: item.calls for item in report.stages} == {
        stage: calls * case.requests for stage, calls in CALLS.items()
    }
    saturation = report.saturation
    assert saturation is not None
    verdict = saturation.bottleneck
    seen = {
        item.stage: (round(item.growth, 1), round(item.added_ms), round(item.call_added_ms))
        for item in saturation.stages
    }
    print(f"{name}: {verdict.kind} {verdict.stage}: {verdict.reason}; growth, ms added per request and call: {seen}")
    # The ramp reached its top: the lowest bin is one request in flight, the highest the most clients.
    low, high = saturation.bins[0].concurrency, saturation.bins[-1].concurrency
    assert (low, high) == (1, case.steps[-1][0]), saturation.bins
    assert (verdict.kind, verdict.stage) == (case.kind, case.stage), verdict.reason
    loads = f"from 1 to {high} concurrent requests"
    if case.stage is None:
        assert verdict.reason.startswith(f"no stage saturates: {loads} no stage's p95 grows 2x while adding "), verdict
        return
    named = next(item for item in saturation.stages if item.stage == case.stage)
    assert named.growth >= 2 and named.added_ms >= 10
    growth = f"{named.growth:.0f}x" if named.growth >= 10 else f"{named.growth:.1f}x"
    assert verdict.reason.startswith(
        f"{case.stage}: p95 grows {growth} {loads} (+{named.added_ms:,.0f} ms per request) while "
    ), verdict.reason
