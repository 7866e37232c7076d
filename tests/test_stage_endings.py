"""Every wrapper form ends its span at once, whatever way it ends, and records which way it was.

One table: wrapper form x ending. Each run keeps the generator / stream it used referenced until the span is
checked, so the span must have been ended by the ending itself, not by garbage collection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

import pytest

import agenttrace
from agenttrace.testing import Capture
from tests.trees import node


class Interrupt(BaseException):
    """Like ``KeyboardInterrupt``, but asyncio hands it back to the awaiting caller instead of stopping the loop."""


RAISES: dict[str, type[BaseException]] = {"error": ValueError, "interrupt": Interrupt, "cancel": asyncio.CancelledError}
#: The ``agenttrace.outcome`` each ending records (``None``: not set, a normal completion).
OUTCOMES: dict[str, str | None] = {
    "normal": None,
    "error": "error",
    "close": "closed",
    "break": "closed",
    "abandon": "abandoned",
    "cancel": "cancelled",
    "interrupt": "cancelled",
}


def act(ending: str) -> None:
    """What the stage body does at the point where it ends."""
    if ending == "error":
        raise ValueError("upstream failed")
    if ending == "interrupt":
        raise Interrupt


def raises(ending: str) -> contextlib.AbstractContextManager[Any]:
    return pytest.raises(RAISES[ending]) if ending in RAISES else contextlib.nullcontext()


class Chunks:
    """A provider-like synchronous stream (the shape of ``openai.Stream``): one chunk, then the ending."""

    def __init__(self, ending: str) -> None:
        self.ending = ending
        self.sent = 0
        self.closed = False

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        self.sent += 1
        if self.sent == 1:
            return "a"
        act(self.ending)
        raise StopIteration

    def close(self) -> None:
        self.closed = True


class AsyncChunks:
    """A provider-like asynchronous stream (the shape of ``openai.AsyncStream``): one chunk, then the ending."""

    def __init__(self, ending: str) -> None:
        self.ending = ending
        self.sent = 0
        self.closed = False
        self.waiting = asyncio.Event()

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        self.sent += 1
        if self.sent == 1:
            return "a"
        if self.ending == "cancel":
            self.waiting.set()
            await asyncio.Event().wait()
        act(self.ending)
        raise StopAsyncIteration

    async def close(self) -> None:
        self.closed = True


async def cancel_consumer(consume: Coroutine[Any, Any, Any], waiting: asyncio.Event) -> None:
    """Run ``consume`` in a task, cancel the task once the stage is waiting, and see the cancellation."""
    task = asyncio.create_task(consume)
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def drain(iterator: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in iterator]


retrieval = agenttrace.stage("retrieval")
llm = agenttrace.stage("llm_call", model="m")


async def run_function(ending: str) -> tuple[object, ...]:
    @retrieval
    def work() -> str:
        act(ending)
        return "a"

    with raises(ending):
        assert work() == "a"
    return ()


async def run_coroutine(ending: str) -> tuple[object, ...]:
    waiting = asyncio.Event()

    @retrieval
    async def work() -> str:
        if ending == "cancel":
            waiting.set()
            await asyncio.Event().wait()
        act(ending)
        return "a"

    if ending == "cancel":
        await cancel_consumer(work(), waiting)
    else:
        with raises(ending):
            assert await work() == "a"
    return ()


async def run_generator(ending: str) -> tuple[object, ...]:
    @retrieval
    def docs() -> Iterator[str]:
        yield "a"
        act(ending)

    gen = docs()
    if ending == "close":
        assert next(gen) == "a"
        gen.close()
    elif ending == "break":
        for _ in docs():  # the loop holds the only reference: leaving it closes the generator
            break
    else:
        with raises(ending):
            assert list(gen) == ["a"]
    return (gen,)


async def run_async_generator(ending: str) -> tuple[object, ...]:
    waiting = asyncio.Event()

    @retrieval
    async def docs() -> AsyncIterator[str]:
        yield "a"
        if ending == "cancel":
            waiting.set()
            await asyncio.Event().wait()
        act(ending)

    agen = docs()
    if ending == "close":
        assert await anext(agen) == "a"
        await agen.aclose()
    elif ending == "break":
        async with contextlib.aclosing(docs()) as closing:
            async for _ in closing:
                break
    elif ending == "cancel":
        await cancel_consumer(drain(agen), waiting)
    else:
        with raises(ending):
            assert await drain(agen) == ["a"]
    return (agen,)


async def run_with(ending: str) -> tuple[object, ...]:
    def body() -> Iterator[str]:
        with retrieval:
            yield "a"

    gen = body()
    if ending == "close":  # GeneratorExit passes through the with block
        assert next(gen) == "a"
        gen.close()
    else:
        with raises(ending):
            with retrieval:
                act(ending)
    return (gen,)


async def run_async_with(ending: str) -> tuple[object, ...]:
    waiting = asyncio.Event()

    async def body() -> AsyncIterator[str]:
        async with retrieval:
            yield "a"

    async def work() -> None:
        async with retrieval:
            if ending == "cancel":
                waiting.set()
                await asyncio.Event().wait()
            act(ending)

    agen = body()
    if ending == "close":
        assert await anext(agen) == "a"
        await agen.aclose()
    elif ending == "cancel":
        await cancel_consumer(work(), waiting)
    else:
        with raises(ending):
            await work()
    return (agen,)


async def run_stream(ending: str) -> tuple[object, ...]:
    @llm
    def call() -> Chunks:
        return Chunks(ending)

    stream = call()
    if ending == "close":
        assert next(stream) == "a"
        stream.close()
        assert stream.closed
    elif ending == "break":
        with call() as managed:
            for _ in managed:
                break
    elif ending == "abandon":
        assert next(stream) == "a"
        del stream  # the last reference: CPython finalises the proxy here, not at a later GC pass
        return ()
    else:
        with raises(ending):
            assert list(stream) == ["a"]
    return (stream,)


async def run_async_stream(ending: str) -> tuple[object, ...]:
    @llm
    async def call() -> AsyncChunks:
        return AsyncChunks(ending)

    stream = await call()
    if ending == "close":
        assert await anext(stream) == "a"
        await stream.close()
        assert stream.closed
    elif ending == "break":
        async with await call() as managed:
            async for _ in managed:
                break
    elif ending == "abandon":
        assert await anext(stream) == "a"
        del stream
        return ()
    elif ending == "cancel":
        await cancel_consumer(drain(stream), stream.waiting)
    else:
        with raises(ending):
            assert await drain(stream) == ["a"]
    return (stream,)


RUNS: dict[str, Callable[[str], Coroutine[Any, Any, tuple[object, ...]]]] = {
    "function": run_function,
    "coroutine": run_coroutine,
    "generator": run_generator,
    "async_generator": run_async_generator,
    "with": run_with,
    "async_with": run_async_with,
    "stream": run_stream,
    "async_stream": run_async_stream,
}
#: The endings each form can meet (a plain call cannot be closed; only async code can be cancelled).
ENDINGS: dict[str, tuple[str, ...]] = {
    "function": ("normal", "error", "interrupt"),
    "coroutine": ("normal", "error", "cancel", "interrupt"),
    "generator": ("normal", "error", "close", "break", "interrupt"),
    "async_generator": ("normal", "error", "close", "break", "cancel", "interrupt"),
    "with": ("normal", "error", "close", "interrupt"),
    "async_with": ("normal", "error", "close", "cancel", "interrupt"),
    "stream": ("normal", "error", "close", "break", "abandon", "interrupt"),
    "async_stream": ("normal", "error", "close", "break", "abandon", "cancel", "interrupt"),
}
CASES = [(form, ending) for form, endings in ENDINGS.items() for ending in endings]


def expected_span(form: str, ending: str) -> dict[str, Any]:
    outcome = OUTCOMES[ending]
    if form.endswith("stream"):
        name, kind = "chat m", "CLIENT"
        attributes: dict[str, Any] = {
            "agenttrace.stage": "llm_call",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "m",
            "gen_ai.response.time_to_first_chunk": "<duration>",  # every stream run delivers one chunk first
        }
    else:
        name, kind = "retrieval", "INTERNAL"
        attributes = {"agenttrace.stage": "retrieval"}
    if outcome is None:
        return node(name, kind, **attributes)
    attributes["agenttrace.outcome"] = outcome
    if outcome == "error":
        attributes["error.type"] = "ValueError"
        return node(name, kind, "ERROR", events=["exception"], **attributes)
    return node(name, kind, **attributes)


@pytest.mark.parametrize(("form", "ending"), CASES, ids=[f"{form}-{ending}" for form, ending in CASES])
async def test_span_ends_at_once_with_its_outcome(agenttrace_capture: Capture, form: str, ending: str) -> None:
    kept = await RUNS[form](ending)  # still referenced: nothing here was ended by garbage collection
    ended = [span.name for span in agenttrace_capture.finished_spans()]
    assert ended == ["chat m" if form.endswith("stream") else "retrieval"], f"{len(ended)} spans ended"
    assert agenttrace_capture.tree() == [expected_span(form, ending)]
    del kept


async def test_async_stream_aclose_ends_the_stage(agenttrace_capture: Capture) -> None:
    async def chunks() -> AsyncIterator[str]:
        yield "a"
        yield "b"

    @llm
    async def call() -> AsyncIterator[str]:
        return chunks()

    stream = await call()
    assert await anext(stream) == "a"
    await stream.aclose()  # an async generator's own close method, not forwarded past the stage
    assert agenttrace_capture.tree() == [expected_span("async_stream", "close")]
    del stream
