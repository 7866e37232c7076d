"""A FastAPI agent service instrumented with agenttrace: what a user's app looks like.

``POST /tickets/{session_id}`` answers a support ticket (context load, two LLM calls, a tool call) and
``GET /tickets/{session_id}/stream`` streams the answer as server-sent events. The LLM provider is whatever
OpenAI-compatible base URL it is given (the demo and tests use the local fake in ``examples/fake_llm.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

import agenttrace
from examples.agent import answer, handle_ticket, load_session_context, lookup_order


def create_app(llm_base_url: str) -> FastAPI:
    """The agent service, talking to the LLM API at ``llm_base_url`` (``.../v1``)."""
    client = openai.AsyncOpenAI(base_url=llm_base_url, api_key="not-needed-locally", max_retries=0)
    app = FastAPI(title="support-agent")
    app.add_middleware(agenttrace.AgentTraceMiddleware)

    @app.post("/tickets/{session_id}")
    async def ticket(session_id: str) -> dict[str, str]:
        return {"answer": await handle_ticket(client, session_id)}

    @app.get("/tickets/{session_id}/stream")
    async def ticket_stream(session_id: str) -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            await load_session_context(session_id)
            order = lookup_order("A-1001")
            async for chunk in await answer(client, order):
                if chunk.choices and chunk.choices[0].delta.content:
                    yield f"data: {chunk.choices[0].delta.content}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
