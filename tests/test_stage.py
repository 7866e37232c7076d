"""Stage spans: every callable shape, context managers, names and attributes, errors, cancellation."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

import agenttrace
from agenttrace.testing import Capture
from tests.trees import node


def stage_node(stage: str, name: str | None = None, kind: str = "INTERNAL", **attrs: Any):
    return node(name or stage, kind, **{"agenttrace.stage": stage, **attrs})


LLM = {"gen_ai.operation.name": "chat"}


def test_sync_function_span(agenttrace_capture: Capture) -> None:
    @agenttrace.stage("context_load")
    def load(session: str) -> str:
        return f"ctx-{session}"

    assert load("s1") == "ctx-s1"
    assert agenttrace_capture.tree() == [stage_node("context_load")]


async def test_coroutine_span_covers_awaited_body(agenttrace_capture: Capture) -> None:
    inner = agenttrace.stage("retrieval")

    @agenttrace.stage("context_load")
    async def load() -> int:
        await asyncio.sleep(0)
        with inner:
            pass
        return 7

    assert await load() == 7
    assert agenttrace_capture.tree() == [
        stage_node("context_load", children=[stage_node("retrieval")]),
    ]


def test_llm_stage_names_and_attributes(agenttrace_capture: Capture) -> None:
    @agenttrace.stage("llm_call", model="gpt-4o-mini", provider="openai")
    def call() -> str:
        agenttrace.record_usage(input_tokens=812, output_tokens=64)
        return "answer"

    assert call() == "answer"
    assert agenttrace_capture.tree() == [
        node(
            "chat gpt-4o-mini",
            "CLIENT",
            **{
                "agenttrace.stage": "llm_call",
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 812,
                "gen_ai.usage.output_tokens": 64,
            },
        )
    ]


def test_stage_kinds_from_names_and_arguments(agenttrace_capture: Capture) -> None:
    with agenttrace.stage("llm_call"):
        pass
    with agenttrace.stage("summarise", operation="text_completion", model="m"):
        pass
    with agenttrace.stage("tool_execution"):
        pass
    with agenttrace.stage("anything", tool="search_kb"):
        pass
    with agenttrace.stage("memory", attributes={"agenttrace.memory.kind": "episodic", "sizes": [1, 2]}):
        pass
    assert agenttrace_capture.tree() == [
        node("chat", "CLIENT", **{"agenttrace.stage": "llm_call", **LLM}),
        node(
            "text_completion m",
            "CLIENT",
            **{
                "agenttrace.stage": "summarise",
                "gen_ai.operation.name": "text_completion",
                "gen_ai.request.model": "m",
            },
        ),
        node("execute_tool", **{"agenttrace.stage": "tool_execution", "gen_ai.operation.name": "execute_tool"}),
        node(
            "execute_tool search_kb",
            **{
                "agenttrace.stage": "anything",
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "search_kb",
            },
        ),
        node("memory", **{"agenttrace.stage": "memory", "agenttrace.memory.kind": "episodic", "sizes": (1, 2)}),
    ]


def test_decorated_tool_stage_takes_function_name(agenttrace_capture: Capture) -> None:
    @agenttrace.stage("tool_execution")
    def lookup_order(order_id: int) -> dict[str, int]:
        return {"id": order_id}

    assert lookup_order(5) == {"id": 5}
    assert agenttrace_capture.tree() == [
        node(
            "execute_tool lookup_order",
            **{
                "agenttrace.stage": "tool_execution",
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "lookup_order",
            },
        )
    ]


def test_generator_span_covers_iteration_not_consumer(agenttrace_capture: Capture) -> None:
    @agenttrace.stage("retrieval")
    def docs():
        with agenttrace.stage("fetch"):
            pass
        yield 1
        yield 2
        return "done"

    gen = docs()
    assert agenttrace_capture.finished_spans() == ()  # creating the generator starts nothing
    got = []
    for item in gen:
        with agenttrace.stage("consume"):  # consumer work is not a child of the generator's span
            got.append(item)
    assert got == [1, 2]
    assert agenttrace_capture.tree() == [
        stage_node("retrieval", children=[stage_node("fetch")]),
        stage_node("consume"),
        stage_node("consume"),
    ]


def test_generator_return_value_and_send() -> None:
    @agenttrace.stage("echo")
    def echo():
        received = yield "ready"
        yield f"got {received}"
        return "finished"

    gen = echo()
    assert next(gen) == "ready"
    assert gen.send("x") == "got x"
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value == "finished"


def test_generator_close_ends_span_without_error(agenttrace_capture: Capture) -> None:
    closed = []

    @agenttrace.stage("retrieval")
    def docs():
        try:
            yield 1
            yield 2
        finally:
            closed.append(True)

    gen = docs()
    assert next(gen) == 1
    gen.close()
    assert closed == [True]
    assert agenttrace_capture.tree() == [stage_node("retrieval", **{"agenttrace.outcome": "closed"})]


def test_generator_error_marks_span_and_propagates(agenttrace_capture: Capture) -> None:
    boom = KeyError("missing")

    @agenttrace.stage("retrieval")
    def docs():
        yield 1
        raise boom

    gen = docs()
    next(gen)
    with pytest.raises(KeyError) as info:
        next(gen)
    assert info.value is boom
    assert agenttrace_capture.tree() == [
        node(
            "retrieval",
            status="ERROR",
            events=["exception"],
            **{"agenttrace.stage": "retrieval", "error.type": "KeyError", "agenttrace.outcome": "error"},
        )
    ]


def test_generator_throw_reaches_the_real_generator() -> None:
    @agenttrace.stage("retrieval")
    def docs():
        try:
            yield 1
        except ValueError:
            yield "recovered"

    gen = docs()
    next(gen)
    assert gen.throw(ValueError("x")) == "recovered"


async def test_async_generator_span_and_aclose(agenttrace_capture: Capture) -> None:
    @agenttrace.stage("llm_call", model="m")
    async def tokens():
        for t in ("a", "b", "c"):
            await asyncio.sleep(0)
            yield t

    assert [t async for t in tokens()] == ["a", "b", "c"]
    agen = tokens()
    assert await agen.__anext__() == "a"
    await agen.aclose()
    base = {"agenttrace.stage": "llm_call", **LLM, "gen_ai.request.model": "m"}
    assert agenttrace_capture.tree() == [
        node("chat m", "CLIENT", **base, **{"gen_ai.response.time_to_first_chunk": "<duration>"}),
        node(
            "chat m",
            "CLIENT",
            **base,
            **{"gen_ai.response.time_to_first_chunk": "<duration>", "agenttrace.outcome": "closed"},
        ),
    ]


async def test_async_generator_error(agenttrace_capture: Capture) -> None:
    @agenttrace.stage("stream")
    async def chunks():
        yield 1
        raise RuntimeError("upstream closed")

    with pytest.raises(RuntimeError, match="upstream closed"):
        async for _ in chunks():
            pass
    assert agenttrace_capture.tree() == [
        node(
            "stream",
            status="ERROR",
            events=["exception"],
            **{"agenttrace.stage": "stream", "error.type": "RuntimeError", "agenttrace.outcome": "error"},
        )
    ]


def test_methods_classmethods_staticmethods(agenttrace_capture: Capture) -> None:
    class Agent:
        factor = 3

        @agenttrace.stage("plan")
        def plan(self, x: int) -> int:
            return x * self.factor

        @agenttrace.stage("cls")
        @classmethod
        def make(cls) -> str:
            return cls.__name__

        @agenttrace.stage("static")
        @staticmethod
        def helper(x: int) -> int:
            return x + 1

    agent = Agent()
    assert agent.plan(2) == 6
    assert Agent.make() == "Agent"
    assert agent.helper(1) == 2
    assert agenttrace_capture.tree() == [stage_node("plan"), stage_node("cls"), stage_node("static")]


def test_signature_and_metadata_preserved() -> None:
    def original(a: int, b: str = "x", *, c: float = 1.0) -> str:
        """Docs."""
        return b

    wrapped = agenttrace.stage("s")(original)
    assert wrapped.__name__ == "original"
    assert wrapped.__doc__ == "Docs."
    assert inspect.signature(wrapped) == inspect.signature(original)

    async def coro() -> None: ...

    assert inspect.iscoroutinefunction(agenttrace.stage("s")(coro))


def test_exception_passes_through_unchanged(agenttrace_capture: Capture) -> None:
    class RateLimited(Exception):
        pass

    err = RateLimited("429 from provider")

    @agenttrace.stage("llm_call", model="m")
    def call() -> None:
        raise err

    with pytest.raises(RateLimited) as info:
        call()
    assert info.value is err
    assert info.value.__traceback__ is not None
    span = agenttrace_capture.finished_spans()[0]
    assert span.status.description == "test_exception_passes_through_unchanged.<locals>.RateLimited: 429 from provider"
    assert span.events[0].attributes is not None
    assert (span.events[0].attributes["exception.type"], span.events[0].attributes["exception.message"]) == (
        "tests.test_stage.test_exception_passes_through_unchanged.<locals>.RateLimited",
        "429 from provider",
    )
    assert agenttrace_capture.tree() == [
        node(
            "chat m",
            "CLIENT",
            "ERROR",
            events=["exception"],
            **{
                "agenttrace.stage": "llm_call",
                **LLM,
                "gen_ai.request.model": "m",
                "error.type": "test_exception_passes_through_unchanged.<locals>.RateLimited",
                "agenttrace.outcome": "error",
            },
        )
    ]


async def test_cancellation_is_not_an_error(agenttrace_capture: Capture) -> None:
    started = asyncio.Event()

    @agenttrace.stage("llm_call", model="m")
    async def slow() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert agenttrace_capture.tree() == [
        node(
            "chat m",
            "CLIENT",
            **{"agenttrace.stage": "llm_call", **LLM, "gen_ai.request.model": "m", "agenttrace.outcome": "cancelled"},
        )
    ]


def test_context_manager_sync_with_error(agenttrace_capture: Capture) -> None:
    with pytest.raises(ZeroDivisionError):
        with agenttrace.stage("tool_execution", tool="calc") as s:
            s.set_attribute("agenttrace.input_size", 3)
            1 / 0  # noqa: B018
    assert agenttrace_capture.tree() == [
        node(
            "execute_tool calc",
            status="ERROR",
            events=["exception"],
            **{
                "agenttrace.stage": "tool_execution",
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "calc",
                "agenttrace.input_size": 3,
                "error.type": "ZeroDivisionError",
                "agenttrace.outcome": "error",
            },
        )
    ]


async def test_async_context_manager_record_usage(agenttrace_capture: Capture) -> None:
    async with agenttrace.stage("llm_call", model="m") as s:
        s.record_usage(input_tokens=100, output_tokens=10)
        s.record_usage(input_tokens=20, output_tokens=5, cache_read_input_tokens=50)
    assert agenttrace_capture.tree() == [
        node(
            "chat m",
            "CLIENT",
            **{
                "agenttrace.stage": "llm_call",
                **LLM,
                "gen_ai.request.model": "m",
                "gen_ai.usage.input_tokens": 120,
                "gen_ai.usage.output_tokens": 15,
                "gen_ai.usage.cache_read.input_tokens": 50,
            },
        )
    ]


async def test_one_stage_object_reused_concurrently(agenttrace_capture: Capture) -> None:
    shared = agenttrace.stage("llm_call", model="m")
    gate = asyncio.Event()
    inside = 0

    async def one(n: int) -> None:
        nonlocal inside
        async with shared as s:
            inside += 1
            if inside == 3:
                gate.set()
            await gate.wait()  # all three stages are open at once before any records usage
            s.record_usage(input_tokens=n, output_tokens=n)

    await asyncio.gather(*(one(n) for n in (1, 2, 3)))
    spans = agenttrace_capture.tree()
    assert sorted(spans, key=lambda s: s["attributes"]["gen_ai.usage.input_tokens"]) == [
        node(
            "chat m",
            "CLIENT",
            **{
                "agenttrace.stage": "llm_call",
                **LLM,
                "gen_ai.request.model": "m",
                "gen_ai.usage.input_tokens": n,
                "gen_ai.usage.output_tokens": n,
            },
        )
        for n in (1, 2, 3)
    ]


def test_record_usage_outside_a_stage_is_a_no_op() -> None:
    assert agenttrace.record_usage(input_tokens=1) is False


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"name": ""}, ValueError),
        ({"name": 3}, ValueError),
        ({"name": "x", "model": ""}, TypeError),
        ({"name": "x", "tool": 5}, TypeError),
        ({"name": "x", "attributes": ["a"]}, TypeError),
        ({"name": "x", "attributes": {"k": {"nested": 1}}}, TypeError),
        ({"name": "x", "attributes": {"": 1}}, TypeError),
    ],
)
def test_caller_mistakes_fail_at_declaration(kwargs: dict[str, Any], error: type[Exception]) -> None:
    name = kwargs.pop("name")
    with pytest.raises(error, match="agenttrace.stage"):
        agenttrace.stage(name, **kwargs)


def test_decorating_a_non_callable_fails_early() -> None:
    with pytest.raises(TypeError, match="decorates callables"):
        agenttrace.stage("x")(42)  # type: ignore[arg-type]


def test_response_model_names_span_when_no_model_given(agenttrace_capture: Capture) -> None:
    @agenttrace.stage("llm_call")
    def call() -> dict[str, Any]:
        return {"model": "gpt-4.1", "id": "r1", "usage": {"prompt_tokens": 3, "completion_tokens": 4}}

    call()
    assert agenttrace_capture.tree() == [
        node(
            "chat gpt-4.1",
            "CLIENT",
            **{
                "agenttrace.stage": "llm_call",
                **LLM,
                "gen_ai.response.model": "gpt-4.1",
                "gen_ai.response.id": "r1",
                "gen_ai.usage.input_tokens": 3,
                "gen_ai.usage.output_tokens": 4,
            },
        )
    ]


def test_content_not_recorded_unless_opted_in(agenttrace_capture: Capture) -> None:
    @agenttrace.stage("llm_call", model="m")
    def plain() -> str:
        return "secret completion"

    @agenttrace.stage("llm_call", model="m", capture_content=True)
    def opted_in() -> str:
        return "shared completion"

    plain()
    opted_in()
    base = {"agenttrace.stage": "llm_call", **LLM, "gen_ai.request.model": "m"}
    assert agenttrace_capture.tree() == [
        node("chat m", "CLIENT", **base),
        node(
            "chat m",
            "CLIENT",
            **base,
            **{
                "gen_ai.output.messages": (
                    '[{"role": "assistant", "parts": [{"type": "text", "content": "shared completion"}]}]'
                )
            },
        ),
    ]
    assert "secret completion" not in agenttrace_capture.finished_spans()[0].to_json()


@pytest.mark.parametrize("bad", ["12", -1, 1.5, True])
def test_record_usage_rejects_bad_counts_and_keeps_good_ones(agenttrace_capture: Capture, bad: Any) -> None:
    with agenttrace.stage("llm_call", model="m") as s:
        s.record_usage(input_tokens=5)
        with pytest.raises(TypeError, match="agenttrace.record_usage: token counts must be non-negative ints"):
            s.record_usage(input_tokens=bad)
        with pytest.raises(TypeError, match="non-negative ints"):
            agenttrace.record_usage(output_tokens=bad)
    assert agenttrace_capture.tree() == [
        node(
            "chat m",
            "CLIENT",
            **{"agenttrace.stage": "llm_call", **LLM, "gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 5},
        )
    ]
