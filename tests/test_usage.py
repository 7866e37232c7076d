"""Token usage read from the real openai and anthropic clients' responses and streams.

The clients talk over HTTP to a local stand-in of the provider APIs (examples/fake_llm.py) on 127.0.0.1,
so every response and stream object here is the SDK's own class.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

import agenttrace
from agenttrace.testing import Capture
from examples import fake_llm
from examples.serving import serve

MESSAGES = [{"role": "user", "content": "Where is my order?"}]


@pytest.fixture(scope="module")
def llm_url() -> Iterator[str]:
    with serve(fake_llm.create_app()) as url:
        yield url


@pytest.fixture
def oai(llm_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{llm_url}/v1", api_key="test", max_retries=0) as client:
        yield client


@pytest.fixture
def aoai(llm_url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{llm_url}/v1", api_key="test", max_retries=0)


@pytest.fixture
def claude(llm_url: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=llm_url, api_key="test", max_retries=0) as client:
        yield client


def llm_span(name: str, provider: str, model: str, **extra: Any) -> dict[str, Any]:
    attributes = {
        "agenttrace.stage": "llm_call",
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        **extra,
    }
    return {"name": name, "kind": "CLIENT", "status": "UNSET", "attributes": attributes, "events": [], "children": []}


OPENAI_USAGE = {
    "gen_ai.usage.input_tokens": 812,
    "gen_ai.usage.output_tokens": 64,
    "gen_ai.usage.cache_read.input_tokens": 512,
    "gen_ai.usage.reasoning.output_tokens": 16,
}


def test_openai_chat_completion(agenttrace_capture: Capture, oai: openai.OpenAI) -> None:
    @agenttrace.stage("llm_call", model="gpt-4o-mini", provider="openai")
    def call() -> Any:
        return oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]

    result = call()
    assert type(result).__module__.startswith("openai.types")
    assert agenttrace_capture.tree() == [
        llm_span(
            "chat gpt-4o-mini",
            "openai",
            "gpt-4o-mini",
            **OPENAI_USAGE,
            **{
                "gen_ai.response.model": "gpt-4o-mini",
                "gen_ai.response.id": "chatcmpl-1",
                "gen_ai.response.finish_reasons": ("stop",),
            },
        )
    ]


def test_openai_chat_stream_keeps_span_open_until_consumed(agenttrace_capture: Capture, oai: openai.OpenAI) -> None:
    @agenttrace.stage("llm_call", model="gpt-4o-mini")
    def call() -> Any:
        return oai.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )

    stream = call()
    assert agenttrace_capture.finished_spans() == ()
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Your order ships tomorrow."
    assert agenttrace_capture.tree() == [
        llm_span(
            "chat gpt-4o-mini",
            "openai",
            "gpt-4o-mini",
            **OPENAI_USAGE,
            **{
                "gen_ai.response.model": "gpt-4o-mini",
                "gen_ai.response.id": "chatcmpl-1",
                "gen_ai.response.finish_reasons": ("stop",),
                "gen_ai.response.time_to_first_chunk": "<duration>",
            },
        )
    ]


async def test_openai_async_stream_closed_early(agenttrace_capture: Capture, aoai: openai.AsyncOpenAI) -> None:
    @agenttrace.stage("llm_call", model="gpt-4o-mini", provider="openai")
    async def call() -> Any:
        return await aoai.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
        )

    stream = await call()
    first = await stream.__anext__()
    assert first.choices[0].delta.content == "Your"
    await stream.close()
    await aoai.close()
    assert agenttrace_capture.tree() == [
        llm_span(
            "chat gpt-4o-mini",
            "openai",
            "gpt-4o-mini",
            **{
                "gen_ai.response.model": "gpt-4o-mini",
                "gen_ai.response.id": "chatcmpl-1",
                "gen_ai.response.time_to_first_chunk": "<duration>",
                "agenttrace.outcome": "closed",
            },
        )
    ]


async def test_openai_async_stream_cancelled_while_awaiting_a_chunk(agenttrace_capture: Capture) -> None:
    """The consumer task is cancelled inside ``AsyncStream.__anext__``: the stage ends there, not at GC."""
    with serve(fake_llm.create_app(chunk_delay_s=60)) as url:  # every chunk stalls: only a cancel ends the wait
        aoai = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="test", max_retries=0)

        @agenttrace.stage("llm_call", model="gpt-4o-mini", provider="openai")
        async def call() -> Any:
            return await aoai.chat.completions.create(
                model="gpt-4o-mini",
                messages=MESSAGES,  # type: ignore[arg-type]
                stream=True,
            )

        stream = await call()
        waiting = asyncio.Event()

        async def consume() -> Any:
            waiting.set()
            return await anext(stream)

        task = asyncio.create_task(consume())
        await waiting.wait()  # the task has run up to its first real wait, inside the stream
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        ended = agenttrace_capture.tree()  # the stream is still referenced: nothing was garbage-collected
        await stream.close()
        await aoai.close()
    assert ended == [llm_span("chat gpt-4o-mini", "openai", "gpt-4o-mini", **{"agenttrace.outcome": "cancelled"})]


def test_openai_responses_api_and_stream(agenttrace_capture: Capture, oai: openai.OpenAI) -> None:
    @agenttrace.stage("llm_call", model="gpt-4.1", provider="openai")
    def call(stream: bool) -> Any:
        return oai.responses.create(model="gpt-4.1", input="Where is my order?", stream=stream)

    assert call(False).output_text == "Your order ships tomorrow."
    events = [e.type for e in call(True)]
    assert events[-1] == "response.completed"
    expected = {**OPENAI_USAGE, "gen_ai.response.model": "gpt-4.1", "gen_ai.response.id": "resp_1"}
    assert agenttrace_capture.tree() == [
        llm_span("chat gpt-4.1", "openai", "gpt-4.1", **expected),
        llm_span(
            "chat gpt-4.1", "openai", "gpt-4.1", **expected, **{"gen_ai.response.time_to_first_chunk": "<duration>"}
        ),
    ]


ANTHROPIC_USAGE = {
    "gen_ai.usage.input_tokens": 812,  # 300 uncached + 512 cache read + 0 cache creation
    "gen_ai.usage.output_tokens": 64,
    "gen_ai.usage.cache_read.input_tokens": 512,
    "gen_ai.usage.cache_creation.input_tokens": 0,
    "gen_ai.response.model": "claude-test-model",
    "gen_ai.response.id": "msg_1",
    "gen_ai.response.finish_reasons": ("end_turn",),
}


def test_anthropic_message_and_stream(agenttrace_capture: Capture, claude: anthropic.Anthropic) -> None:
    @agenttrace.stage("llm_call", model="claude-test-model")
    def call(stream: bool) -> Any:
        return claude.messages.create(
            model="claude-test-model",
            max_tokens=256,
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=stream,
        )

    message = call(False)
    assert type(message).__module__.startswith("anthropic.types")
    events = [e.type for e in call(True)]
    assert events[0] == "message_start"
    assert events[-1] == "message_stop"
    assert agenttrace_capture.tree() == [
        llm_span("chat claude-test-model", "anthropic", "claude-test-model", **ANTHROPIC_USAGE),
        llm_span(
            "chat claude-test-model",
            "anthropic",
            "claude-test-model",
            **ANTHROPIC_USAGE,
            **{"gen_ai.response.time_to_first_chunk": "<duration>"},
        ),
    ]


def test_plain_dicts_of_the_same_shapes() -> None:
    from agenttrace._instrument.usage import usage_from_chunk, usage_from_response

    chat = usage_from_response({"usage": {"prompt_tokens": 10, "completion_tokens": 2}})
    assert chat is not None
    assert (chat.input_tokens, chat.output_tokens) == (10, 2)
    claude = usage_from_response({"usage": {"input_tokens": 5, "output_tokens": 1, "cache_read_input_tokens": 3}})
    assert claude is not None
    assert (claude.input_tokens, claude.cache_read_input_tokens) == (8, 3)
    responses = usage_from_response({"usage": {"input_tokens": 7, "output_tokens": 3}})
    assert responses is not None
    assert (responses.input_tokens, responses.output_tokens) == (7, 3)
    assert usage_from_response({"text": "no usage here"}) is None
    assert usage_from_response(None) is None
    assert usage_from_chunk({"choices": [{"delta": {"content": "x"}}]}) is None
    bad = usage_from_response({"usage": {"prompt_tokens": "12", "completion_tokens": -1}})
    assert bad is not None
    assert (bad.input_tokens, bad.output_tokens) == (None, None)


def test_manual_usage_wins_over_response(agenttrace_capture: Capture, oai: openai.OpenAI) -> None:
    @agenttrace.stage("llm_call", model="gpt-4o-mini", provider="openai")
    def call() -> Any:
        agenttrace.record_usage(input_tokens=1, output_tokens=2)
        return oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]

    call()
    attributes = agenttrace_capture.spans()[0]["attributes"]
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (1, 2)
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 512
