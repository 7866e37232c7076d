"""A local stand-in for the OpenAI and Anthropic HTTP APIs, for tests and demos on 127.0.0.1.

It speaks the real wire formats (JSON bodies and server-sent events), so the official ``openai`` and
``anthropic`` clients talk to it unchanged and return their real response and stream classes. Usage
numbers are fixed (see the constants) so tests can assert them exactly. Optional latency per request
(``latency_s``) and per chunk (``chunk_delay_s``) make it behave like a slow provider.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

INPUT_TOKENS = 812
CACHED_TOKENS = 512
OUTPUT_TOKENS = 64
REASONING_TOKENS = 16
WORDS = ("Your", " order", " ships", " tomorrow", ".")


def _sse(data: dict[str, Any], event: str | None = None) -> str:
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {json.dumps(data)}\n\n"


def create_app(latency_s: float = 0.0, chunk_delay_s: float = 0.0) -> Starlette:
    """The fake provider app. ``latency_s`` delays every answer; ``chunk_delay_s`` every stream chunk."""

    async def pause(seconds: float) -> None:
        if seconds:
            await asyncio.sleep(seconds)

    async def stream(parts: list[str]) -> AsyncIterator[str]:
        for part in parts:
            await pause(chunk_delay_s)
            yield part

    def sse_response(parts: list[str]) -> StreamingResponse:
        return StreamingResponse(stream(parts), media_type="text/event-stream")

    async def chat_completions(request: Request) -> Any:
        body = await request.json()
        await pause(latency_s)
        model = body.get("model", "gpt-4o-mini")
        usage = {
            "prompt_tokens": INPUT_TOKENS,
            "completion_tokens": OUTPUT_TOKENS,
            "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
            "prompt_tokens_details": {"cached_tokens": CACHED_TOKENS},
            "completion_tokens_details": {"reasoning_tokens": REASONING_TOKENS},
        }
        base = {"id": "chatcmpl-1", "created": 1700000000, "model": model}
        if not body.get("stream"):
            message = {"role": "assistant", "content": "".join(WORDS)}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            return JSONResponse({**base, "object": "chat.completion", "choices": [choice], "usage": usage})
        chunk = {**base, "object": "chat.completion.chunk"}
        parts = [
            _sse({**chunk, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]}) for w in WORDS
        ]
        parts.append(_sse({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        if (body.get("stream_options") or {}).get("include_usage"):
            parts.append(_sse({**chunk, "choices": [], "usage": usage}))
        parts.append("data: [DONE]\n\n")
        return sse_response(parts)

    def response_object(model: str, status: str) -> dict[str, Any]:
        text = "".join(WORDS)
        return {
            "id": "resp_1",
            "object": "response",
            "created_at": 1700000000,
            "model": model,
            "status": status,
            "output": [
                {
                    "type": "message",
                    "id": "msg_1",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                }
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": INPUT_TOKENS,
                "input_tokens_details": {"cached_tokens": CACHED_TOKENS},
                "output_tokens": OUTPUT_TOKENS,
                "output_tokens_details": {"reasoning_tokens": REASONING_TOKENS},
                "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
            },
        }

    async def responses(request: Request) -> Any:
        body = await request.json()
        await pause(latency_s)
        model = body.get("model", "gpt-4.1")
        done = response_object(model, "completed")
        if not body.get("stream"):
            return JSONResponse(done)
        parts = [
            _sse(
                {
                    "type": "response.output_text.delta",
                    "item_id": "msg_1",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": w,
                    "sequence_number": i,
                    "logprobs": [],
                },
                "response.output_text.delta",
            )
            for i, w in enumerate(WORDS)
        ]
        parts.append(
            _sse({"type": "response.completed", "response": done, "sequence_number": len(WORDS)}, "response.completed")
        )
        return sse_response(parts)

    async def messages(request: Request) -> Any:
        body = await request.json()
        await pause(latency_s)
        model = body.get("model", "claude-test-model")
        usage = {
            "input_tokens": INPUT_TOKENS - CACHED_TOKENS,
            "cache_read_input_tokens": CACHED_TOKENS,
            "cache_creation_input_tokens": 0,
            "output_tokens": OUTPUT_TOKENS,
        }
        message = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "".join(WORDS)}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        if not body.get("stream"):
            return JSONResponse(message)
        start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
        parts = [_sse({"type": "message_start", "message": start}, "message_start")]
        parts.append(
            _sse(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                "content_block_start",
            )
        )
        parts += [
            _sse(
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}},
                "content_block_delta",
            )
            for w in WORDS
        ]
        parts.append(_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
        parts.append(
            _sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": OUTPUT_TOKENS},
                },
                "message_delta",
            )
        )
        parts.append(_sse({"type": "message_stop"}, "message_stop"))
        return sse_response(parts)

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/responses", responses, methods=["POST"]),
            Route("/v1/messages", messages, methods=["POST"]),
        ]
    )
