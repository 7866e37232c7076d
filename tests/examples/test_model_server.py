"""The simulated model: OpenAI's 429s and headers, token counts, rate-limit buckets, capacity queueing."""

from __future__ import annotations

import asyncio
import re
import time

import openai
import pytest

from examples.agent_service.model_limits import RateLimiter
from examples.agent_service.model_server import ModelConfig
from examples.agent_service.model_server import create_app as create_model_app
from examples.serving import serve

MESSAGES = [{"role": "user", "content": "one two three"}]


def llm_client(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="local", max_retries=0)


async def test_429_body_and_headers_are_openais() -> None:
    with serve(create_model_app(ModelConfig(ttft_s=0.0, per_token_s=0.0, answer_words=8, rpm=2))) as url:
        llm = llm_client(url)
        first = await llm.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
        await llm.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
        with pytest.raises(openai.RateLimitError) as refused:
            await llm.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
        await llm.close()

    assert (first.headers["x-ratelimit-limit-requests"], first.headers["x-ratelimit-remaining-requests"]) == ("2", "1")
    usage = first.parse().usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (3, 8, 11)
    error = refused.value
    assert (error.status_code, error.code, error.type) == (429, "rate_limit_exceeded", "requests")
    assert re.fullmatch(
        r"Error code: 429 - Rate limit reached for m in organization org-local on requests per min \(RPM\): "
        r"Please try again in [\d.]+s\. Visit https://platform\.openai\.com/account/rate-limits to learn more\.",
        error.message,
    )
    headers = error.response.headers
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert 29 <= int(headers["retry-after"]) <= 30  # one request comes back every 30 s
    assert 29_000 < int(headers["retry-after-ms"]) <= 30_000
    assert re.fullmatch(r"[\d.]+s", headers["x-ratelimit-reset-requests"])


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_buckets_refill_continuously_and_a_window_shrinks_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(rpm=60, tpm=600, window_s=2.0, clock=clock)  # bursts of 2 requests / 20 tokens
    assert [limiter.admit(5).admitted for _ in range(3)] == [True, True, False]
    refused = limiter.admit(5)
    assert (refused.limit_type, refused.retry_after_s) == ("requests", 1.0)
    assert refused.headers == {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "2s",
        "x-ratelimit-limit-tokens": "600",
        "x-ratelimit-remaining-tokens": "10",
        "x-ratelimit-reset-tokens": "1s",
    }
    clock.now = 0.5  # half a request and 5 tokens are back
    early = limiter.admit(19)
    assert (early.admitted, early.limit_type, early.retry_after_s) == (False, "requests", 0.5)
    clock.now = 1.0
    assert limiter.admit(19).admitted
    clock.now = 2.0  # a request is back, but only 11 tokens
    tokens = limiter.admit(15)
    assert (tokens.admitted, tokens.limit_type) == (False, "tokens")
    assert tokens.retry_after_s == pytest.approx(0.4)
    assert limiter.admit(21).retry_after_s == float("inf")  # more than a whole bucket: never


async def test_requests_beyond_capacity_queue_for_a_slot() -> None:
    config = ModelConfig(ttft_s=0.1, per_token_s=0.0, answer_words=8, capacity=2)
    with serve(create_model_app(config)) as url:
        llm = llm_client(url)
        await llm.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]  # connect first
        started = time.monotonic()

        async def one() -> float:
            await llm.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
            return time.monotonic() - started

        finished = sorted(await asyncio.gather(*(one() for _ in range(4))))
        await llm.close()
    # Two at a time: the second pair starts when the first is done (lower bounds only: never flaky).
    assert finished[0] >= 0.1
    assert finished[2] >= 0.2


async def test_a_stream_sends_one_chunk_per_token_and_usage_in_the_final_chunk() -> None:
    config = ModelConfig(ttft_s=0.0, per_token_s=0.001, answer_words=6)
    with serve(create_model_app(config)) as url:
        llm = llm_client(url)
        stream = await llm.chat.completions.create(
            model="m",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        await llm.close()

    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert pieces == ["You", " said:", " one", " two", " three", " I"]
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (3, 6)
    assert all(c.usage is None for c in chunks[:-1])
