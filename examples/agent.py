"""A small support agent, instrumented with agenttrace: the shape of a real one, with a local fake provider.

One ``handle_ticket`` call loads the session context, asks the LLM to plan, runs a tool, and streams the
final answer: four kinds of stage, two LLM calls, one tool call.
"""

from __future__ import annotations

import asyncio
from typing import Any

import openai

import agenttrace


@agenttrace.stage("context_load")
async def load_session_context(session_id: str) -> dict[str, Any]:
    await asyncio.sleep(0.005)  # a database round trip
    return {"session": session_id, "history": ["Where is my order?"]}


@agenttrace.stage("llm_call", model="gpt-4o-mini", provider="openai")
async def plan(client: openai.AsyncOpenAI, context: dict[str, Any]) -> Any:
    return await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": context["history"][-1]}]
    )


@agenttrace.stage("tool_execution")
def lookup_order(order_id: str) -> dict[str, str]:
    return {"order": order_id, "status": "shipped"}


@agenttrace.stage("llm_call", model="gpt-4o-mini", provider="openai")
async def answer(client: openai.AsyncOpenAI, order: dict[str, str]) -> Any:
    return await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": f"Order {order['order']} is {order['status']}"}],
        stream=True,
        stream_options={"include_usage": True},
    )


async def handle_ticket(client: openai.AsyncOpenAI, session_id: str) -> str:
    """Answer one support ticket; returns the streamed answer text."""
    context = await load_session_context(session_id)
    await plan(client, context)
    order = await asyncio.to_thread(lookup_order, "A-1001")
    stream = await answer(client, order)
    return "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
