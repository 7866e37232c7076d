"""One agent turn: load the session from the database, call the model and its tools, save the turn.

Per message, in stages: ``context_load`` (check a connection out of the pool and read the session's
history), then up to ``max_steps`` model calls (``llm_call``): while the model asks for tools, the tools of
one step run in parallel (``tool_call``) and their results go back to the model; its answer ends the turn;
``memory_save`` writes the exchange back. The connection is held for the whole turn (a request-scoped
session), so a small pool caps the turns in flight and the wait shows in ``context_load``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

import agenttrace
from examples.agent_service import db
from examples.agent_service.llm import Model
from examples.agent_service.settings import AgentSettings
from examples.agent_service.tools import SCHEMAS, ToolBackend, run_tool

SYSTEM = {"role": "system", "content": "You are a helpful support agent for an online shop."}


class UnknownSession(LookupError):
    """No session has this id."""


@dataclass
class Turn:
    """The agent's answer to one message."""

    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0, "llm_calls": 0})

    def add_usage(self, usage: Any) -> None:
        if usage is not None:
            self.usage["prompt_tokens"] += usage.prompt_tokens
            self.usage["completion_tokens"] += usage.completion_tokens

    def as_dict(self) -> dict[str, Any]:
        total = self.usage["prompt_tokens"] + self.usage["completion_tokens"]
        return {"content": self.content, "tool_calls": self.tool_calls, "usage": {**self.usage, "total_tokens": total}}


@agenttrace.stage("context_load")
async def load_context(lease: db.Lease, session_id: str, limit: int) -> list[dict[str, str]]:
    history = await lease.run(db.load_history, session_id, limit)
    if history is None:
        raise UnknownSession(session_id)
    return history


@agenttrace.stage("memory_save")
async def save_memory(lease: db.Lease, session_id: str, user: str, assistant: str) -> None:
    await lease.run(db.save_turn, session_id, user, assistant)


class Agent:
    """The support agent: a pool, a model, tools."""

    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self.pool = db.ConnectionPool(settings.db_path, settings.db_pool_size, settings.db_latency_s)
        self.model = Model(settings)
        self.tools = ToolBackend(settings)

    async def new_session(self) -> str:
        """Create an empty session."""
        lease = self.pool.lease()
        try:
            return await lease.run(db.create_session)
        finally:
            lease.release()

    async def reply(self, session_id: str, content: str) -> Turn:
        """Answer one message."""
        async for item in self.run(session_id, content, stream=False):
            if isinstance(item, Turn):
                return item
        raise AssertionError("unreachable: run() ends with the turn")

    async def run(self, session_id: str, content: str, stream: bool) -> AsyncGenerator[str | Turn, None]:
        """Answer one message: yields the answer's text pieces as they stream (if ``stream``), then the turn."""
        lease = self.pool.lease()
        try:
            history = await load_context(lease, session_id, self.settings.history_messages)
            messages: list[dict[str, Any]] = [SYSTEM, *history, {"role": "user", "content": content}]
            turn = Turn()
            for step in range(self.settings.max_steps):
                tools = SCHEMAS if step < self.settings.max_steps - 1 else None  # the last step must answer
                response = await self.model.complete(messages, tools, stream)
                turn.usage["llm_calls"] += 1
                if stream:
                    text: list[str] = []
                    calls: dict[int, dict[str, str]] = {}
                    async with contextlib.aclosing(_read_stream(response, text, calls, turn)) as pieces:
                        async for piece in pieces:
                            yield piece
                    turn.content, requested = "".join(text), [calls[i] for i in sorted(calls)]
                else:
                    turn.add_usage(response.usage)
                    message = response.choices[0].message
                    turn.content = message.content or ""
                    requested = [_call(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or ()]
                if not requested:
                    break
                messages.append({"role": "assistant", "content": turn.content or None, "tool_calls": requested})
                await self._run_tools(lease, requested, messages, turn)
            await save_memory(lease, session_id, content, turn.content)
            yield turn
        finally:
            lease.release()

    async def _run_tools(
        self, lease: db.Lease, requested: list[dict[str, Any]], messages: list[dict[str, Any]], turn: Turn
    ) -> None:
        calls = [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in requested]
        results = await asyncio.gather(*(run_tool(self.tools, lease, name, args) for _, name, args in calls))
        for (call_id, name, args), result in zip(calls, results, strict=True):
            messages.append({"role": "tool", "tool_call_id": call_id, "content": json.dumps(result)})
            turn.tool_calls.append({"name": name, "arguments": args, "output": result})

    async def close(self) -> None:
        """Release the model client and the database."""
        await self.model.close()
        self.pool.close()


def _call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


async def _read_stream(
    stream: Any, text: list[str], calls: dict[int, dict[str, Any]], turn: Turn
) -> AsyncGenerator[str, None]:
    """Yield a streamed completion's text pieces; collect its text, tool-call deltas and usage."""
    try:
        async for chunk in stream:
            if chunk.usage is not None:
                turn.add_usage(chunk.usage)
            for choice in chunk.choices:
                delta = choice.delta
                if delta.content:
                    text.append(delta.content)
                    yield delta.content
                for part in delta.tool_calls or ():
                    call = calls.setdefault(part.index, _call("", "", ""))
                    call["id"] = part.id or call["id"]
                    if part.function is not None:
                        call["function"]["name"] += part.function.name or ""
                        call["function"]["arguments"] += part.function.arguments or ""
    finally:
        await stream.close()  # ends the llm_call stage at once when the client went away mid-stream
