"""A local OpenAI-compatible model server that behaves like a real deployment under load.

``POST /v1/chat/completions``, with and without ``stream`` (usage in the final chunk when
``stream_options.include_usage`` is set), answered by the deterministic rules in :mod:`.model_replies`.
What makes it behave like the real thing:

- latency: the first token after ``ttft_s``, each further token ``per_token_s`` later;
- capacity: at most ``capacity`` generations at once; further requests queue (their time to first token grows);
- rate limits: requests and tokens per minute (:mod:`.model_limits`), refused with 429, OpenAI's error body,
  ``retry-after`` (whole seconds), ``retry-after-ms`` and the ``x-ratelimit-*`` headers. Tokens are estimated
  on arrival as prompt words + the answer length, as OpenAI estimates with ``max_tokens``.

It has no randomness: the same requests in the same order get the same answers and the same 429s.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from examples.agent_service.model_limits import RateLimiter
from examples.agent_service.model_replies import Reply, prompt_tokens, reply_to


@dataclass(frozen=True)
class ModelConfig:
    """How the simulated model behaves; ``MODEL_*`` environment variables or ``--model-*`` flags."""

    #: Seconds to the first token (after any wait for capacity).
    ttft_s: float = 0.3
    #: Seconds per further token.
    per_token_s: float = 0.01
    #: Generations at once; further requests queue. 0: unlimited.
    capacity: int = 0
    #: Requests per minute; 0: unlimited.
    rpm: int = 0
    #: Tokens per minute (prompt + answer estimate); 0: unlimited.
    tpm: int = 0
    #: The window the per-minute limits are enforced over (a bucket holds ``limit * window / 60``).
    limit_window_s: float = 60.0
    #: Words in an answer (at least: a longer lead sentence is kept whole); a word is a token.
    answer_words: int = 40

    def __post_init__(self) -> None:
        for name in ("ttft_s", "per_token_s", "capacity", "rpm", "tpm", "answer_words"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.limit_window_s <= 0:
            raise ValueError(f"limit_window_s must be positive, got {self.limit_window_s}")


def _error(status: int, message: str, kind: str, code: str | None, headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _sse(data: Any) -> str:
    return f"data: {json.dumps(data)}\n\n"


def create_app(config: ModelConfig | None = None) -> Starlette:
    """The model server app for ``config`` (defaults: :class:`ModelConfig`)."""
    config = config or ModelConfig()
    limiter = RateLimiter(config.rpm, config.tpm, config.limit_window_s)
    slots = asyncio.Semaphore(config.capacity) if config.capacity else None
    ids = itertools.count(1)

    @contextlib.asynccontextmanager
    async def generating() -> AsyncIterator[None]:
        if slots is None:
            yield
            return
        async with slots:
            yield

    async def pause(seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)

    async def chat_completions(request: Request) -> Response:
        try:
            body = await request.json()
            messages = list(body["messages"])
            model = str(body["model"])
        except (ValueError, KeyError, TypeError):
            return _error(400, "The body must be JSON with 'model' and 'messages'.", "invalid_request_error", None)
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        prompt = prompt_tokens(messages)
        reply = reply_to(messages, list(body.get("tools") or ()), config.answer_words, max_tokens)
        decision = limiter.admit(prompt + (max_tokens or config.answer_words))
        headers = {**decision.headers, "x-request-id": f"req_{next(ids):06d}"}
        if not decision.admitted:
            return _rate_limited(model, decision.limit_type, decision.retry_after_s, headers)
        usage = {"prompt_tokens": prompt, "completion_tokens": reply.completion_tokens}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        base: dict[str, Any] = {
            "id": f"chatcmpl-{headers['x-request-id'][4:]}",
            "created": int(time.time()),
            "model": model,
        }
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = stream(reply, {**base, "object": "chat.completion.chunk"}, usage if include_usage else None)
            return StreamingResponse(chunks, media_type="text/event-stream", headers=headers)
        async with generating():
            await pause(config.ttft_s + config.per_token_s * max(0, reply.completion_tokens - 1))
        choice = {
            "index": 0,
            "message": _message(reply, base["id"]),
            "finish_reason": reply.finish_reason,
            "logprobs": None,
        }
        return JSONResponse({**base, "object": "chat.completion", "choices": [choice], "usage": usage}, headers=headers)

    async def stream(reply: Reply, base: dict[str, Any], usage: dict[str, int] | None) -> AsyncIterator[str]:
        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            return _sse({**base, "choices": [choice], "usage": None})

        async with generating():
            await pause(config.ttft_s)
            yield chunk({"role": "assistant", "content": ""})
            if reply.tool_calls:
                await pause(config.per_token_s * max(0, reply.completion_tokens - 1))
            for i, call in enumerate(_tool_calls(reply, base["id"])):
                yield chunk({"tool_calls": [{"index": i, **call}]})
            for i, word in enumerate(reply.words):
                if i:
                    await pause(config.per_token_s)
                yield chunk({"content": word if i == 0 else " " + word})
            yield chunk({}, reply.finish_reason)
        if usage is not None:
            yield _sse({**base, "choices": [], "usage": usage})
        yield "data: [DONE]\n\n"

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "owned_by": "local"}]})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/models", models),
        Route("/health", health),
    ]
    return Starlette(routes=routes)


def _tool_calls(reply: Reply, completion_id: str) -> list[dict[str, Any]]:
    function = [{"name": c.name, "arguments": c.arguments} for c in reply.tool_calls]
    return [{"id": f"call_{completion_id[9:]}_{i}", "type": "function", "function": f} for i, f in enumerate(function)]


def _message(reply: Reply, completion_id: str) -> dict[str, Any]:
    if not reply.tool_calls:
        return {"role": "assistant", "content": " ".join(reply.words), "refusal": None}
    return {"role": "assistant", "content": None, "tool_calls": _tool_calls(reply, completion_id), "refusal": None}


def _rate_limited(model: str, limit_type: str, retry_after_s: float, headers: dict[str, str]) -> Response:
    """OpenAI's 429: the message, ``type`` = the limit that was hit, and when to try again."""
    unit = "requests per min (RPM)" if limit_type == "requests" else "tokens per min (TPM)"
    if math.isinf(retry_after_s):
        message = f"Request too large for {model} on {unit}. The input or output tokens must be reduced."
        return _error(429, message, limit_type, "rate_limit_exceeded", headers)
    wait = f"{math.ceil(retry_after_s * 1000)}ms" if retry_after_s < 1 else f"{retry_after_s:.3g}s"
    message = (
        f"Rate limit reached for {model} in organization org-local on {unit}: "
        f"Please try again in {wait}. Visit https://platform.openai.com/account/rate-limits to learn more."
    )
    retry = {
        "retry-after": str(max(1, math.ceil(retry_after_s))),
        "retry-after-ms": str(math.ceil(retry_after_s * 1000)),
    }
    return _error(429, message, limit_type, "rate_limit_exceeded", {**headers, **retry})
