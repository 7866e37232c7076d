"""Per-request accounting: roll-ups, context propagation into tasks and threads, no mixing under load."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context

import agenttrace
from agenttrace.testing import Capture
from tests.trees import node

llm = agenttrace.stage("llm_call", model="m")
tool = agenttrace.stage("tool_execution", tool="lookup")


@agenttrace.stage("llm_call", model="m")
async def call_llm(tokens: int) -> str:
    agenttrace.record_usage(input_tokens=tokens, output_tokens=tokens // 10)
    await asyncio.sleep(0)
    return "ok"


@agenttrace.stage("tool_execution", tool="lookup_order")
def lookup_order(order_id: int) -> int:
    return order_id


def rollup(spans: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [found] = [s for s in spans if s["name"] == name]
    return found


async def test_request_rolls_up_gather_create_task_and_to_thread(agenttrace_capture: Capture) -> None:
    async with agenttrace.request("process_ticket", run_id="r1", scenario="refund", user="u7") as req:
        await asyncio.gather(call_llm(100), call_llm(200))
        await asyncio.create_task(call_llm(300))
        await asyncio.to_thread(lookup_order, 1)
    assert (req.llm_calls, req.tool_calls, req.input_tokens, req.output_tokens) == (3, 1, 600, 60)
    assert {name: totals.calls for name, totals in req.stages.items()} == {"llm_call": 3, "tool_execution": 1}
    spans = agenttrace_capture.spans()
    root = rollup(spans, "process_ticket")
    assert root["attributes"] == {
        "agenttrace.run_id": "r1",
        "agenttrace.scenario": "refund",
        "agenttrace.user": "u7",
        "agenttrace.llm_calls": 3,
        "agenttrace.tool_calls": 1,
        "gen_ai.usage.input_tokens": 600,
        "gen_ai.usage.output_tokens": 60,
        "agenttrace.stages": ("llm_call", "tool_execution"),
        "agenttrace.stage_calls": (3, 1),
        "agenttrace.stage_durations": ("<duration>", "<duration>"),
    }
    assert len(spans) == 5
    for span in spans:  # every span is in the one trace, under the request, with the run identity
        assert span["trace"] == 1
        assert span["attributes"]["agenttrace.run_id"] == "r1"
        assert span["attributes"]["agenttrace.user"] == "u7"
        assert span["parent"] == (None if span is root else root["id"])


async def test_executors_need_with_context_and_get_it(agenttrace_capture: Capture) -> None:
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=2) as pool:
        async with agenttrace.request("job") as req:
            await loop.run_in_executor(pool, agenttrace.with_context(lookup_order), 1)
            pool.submit(agenttrace.with_context(lookup_order), 2).result()
            pool.submit(lookup_order, 3).result()  # bare submit: the stdlib does not carry the context
    assert req.tool_calls == 2
    spans = agenttrace_capture.spans()
    root = rollup(spans, "job")
    parents = [s["parent"] for s in spans if s["name"] == "execute_tool lookup_order"]
    assert parents == [root["id"], root["id"], None]


def test_request_identity_from_baggage_is_filtered_and_limited(agenttrace_capture: Capture) -> None:
    ctx = baggage.set_baggage("agenttrace.run_id", "r" * 300)
    ctx = baggage.set_baggage("agenttrace.scenario", "checkout", ctx)
    ctx = baggage.set_baggage("session.secret", "do-not-copy", ctx)
    token = otel_context.attach(ctx)
    try:
        with agenttrace.request("job"):
            with llm:
                pass
    finally:
        otel_context.detach(token)
    identity = {"agenttrace.run_id": "r" * 128, "agenttrace.scenario": "checkout"}  # no session.secret
    assert agenttrace_capture.tree() == [
        node(
            "job",
            children=[
                node(
                    "chat m",
                    "CLIENT",
                    **{
                        "agenttrace.stage": "llm_call",
                        "gen_ai.operation.name": "chat",
                        "gen_ai.request.model": "m",
                        **identity,
                    },
                )
            ],
            **identity,
            **{
                "agenttrace.llm_calls": 1,
                "agenttrace.tool_calls": 0,
                "gen_ai.usage.input_tokens": 0,
                "gen_ai.usage.output_tokens": 0,
                "agenttrace.stages": ("llm_call",),
                "agenttrace.stage_calls": (1,),
                "agenttrace.stage_durations": ("<duration>",),
            },
        )
    ]


def test_request_error_marks_span_and_propagates(agenttrace_capture: Capture) -> None:
    err = ValueError("bad ticket")
    with pytest.raises(ValueError) as info:
        with agenttrace.request("job"):
            with tool:
                pass
            raise err
    assert info.value is err
    [_, root] = agenttrace_capture.spans()
    assert (root["status"], root["events"]) == ("ERROR", ["exception"])
    assert root["attributes"] == {
        "agenttrace.llm_calls": 0,
        "agenttrace.tool_calls": 1,
        "gen_ai.usage.input_tokens": 0,
        "gen_ai.usage.output_tokens": 0,
        "agenttrace.stages": ("tool_execution",),
        "agenttrace.stage_calls": (1,),
        "agenttrace.stage_durations": ("<duration>",),
        "error.type": "ValueError",
        "agenttrace.outcome": "error",
    }


async def test_request_cancelled_records_the_outcome(agenttrace_capture: Capture) -> None:
    entered = asyncio.Event()

    async def job() -> None:
        async with agenttrace.request("job"):
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(job())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [root] = agenttrace_capture.spans()
    assert (root["status"], root["events"], root["attributes"]["agenttrace.outcome"]) == ("UNSET", [], "cancelled")


def test_request_span_kind_and_nesting_under_caller(agenttrace_capture: Capture) -> None:
    with agenttrace_capture.tracer_provider.get_tracer("t").start_as_current_span("poll"):
        with agenttrace.request("job", kind=trace.SpanKind.CONSUMER):
            pass
    job, poll = agenttrace_capture.spans()
    assert (job["kind"], job["parent"]) == ("CONSUMER", poll["id"])


async def test_thousand_interleaved_requests_never_mix_counts(agenttrace_capture: Capture) -> None:
    n = 1000
    gate = asyncio.Event()
    ready = 0

    async def one(i: int) -> agenttrace.RequestRollup:
        nonlocal ready
        async with agenttrace.request("job", run_id=f"r{i}") as req:
            ready += 1
            if ready == n:
                gate.set()
            await gate.wait()  # every request is open before any stage runs
            calls = 1 + i % 4
            await asyncio.gather(*(call_llm(i) for _ in range(calls)))
            for _ in range(i % 3):
                await asyncio.to_thread(lookup_order, i)
        return req

    results = await asyncio.gather(*(one(i) for i in range(n)))
    for i, req in enumerate(results):
        calls = 1 + i % 4
        assert (req.llm_calls, req.tool_calls) == (calls, i % 3)
        assert (req.input_tokens, req.output_tokens) == (calls * i, calls * (i // 10))
    roots = [s for s in agenttrace_capture.spans() if s["name"] == "job"]
    assert len(roots) == n
    for root in roots:
        i = int(root["attributes"]["agenttrace.run_id"][1:])
        assert root["attributes"]["agenttrace.llm_calls"] == 1 + i % 4
        assert root["attributes"]["gen_ai.usage.input_tokens"] == (1 + i % 4) * i


def test_thousand_requests_across_threads_never_mix_counts() -> None:
    n = 1000
    barrier = threading.Barrier(8)

    def one(i: int) -> tuple[int, int, int]:
        if i < 8:
            barrier.wait(timeout=30)  # the first eight run truly at once
        with agenttrace.request("job") as req:
            for _ in range(1 + i % 5):
                with llm as s:
                    s.record_usage(input_tokens=i, output_tokens=1)
            with tool:
                pass
        return req.llm_calls, req.tool_calls, req.input_tokens

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(n)))
    assert results == [(1 + i % 5, 1, (1 + i % 5) * i) for i in range(n)]


async def test_one_request_object_entered_by_many_tasks(agenttrace_capture: Capture) -> None:
    shared = agenttrace.request("job")
    gate = asyncio.Event()
    inside = 0

    async def one(n: int) -> int:
        nonlocal inside
        async with shared as req:
            inside += 1
            if inside == 3:
                gate.set()
            await gate.wait()  # all three blocks are open at once before any stage runs
            for _ in range(n):
                await call_llm(1)
        return req.llm_calls

    assert await asyncio.gather(*(one(n) for n in (1, 2, 3))) == [1, 2, 3]
    roots = sorted(s["attributes"]["agenttrace.llm_calls"] for s in agenttrace_capture.spans() if s["name"] == "job")
    assert roots == [1, 2, 3]
