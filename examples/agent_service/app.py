"""The agent service: the HTTP API that agent load tests drive, instrumented with agenttrace's middleware.

- ``POST /api/sessions`` -> ``{"session_id"}``
- ``POST /api/sessions/{session_id}/messages`` ``{"content"}`` -> ``{"content", "tool_calls", "usage"}``
- ``POST /api/sessions/{session_id}/messages/stream``: the same turn as server-sent events: ``data:
  {"content": piece}`` while the answer streams, then ``event: done`` with the whole turn (as above).

When the model stays rate limited the client gets 429 with ``Retry-After`` and a body saying when to retry,
never a 500; other model failures are 502; an unknown session is 404. A failure after an event stream has
started cannot change its status: it ends the stream with ``event: error`` and the same body.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel

import agenttrace
from examples.agent_service.agent import Agent, Turn, UnknownSession
from examples.agent_service.llm import ModelRateLimited, ModelUnavailable
from examples.agent_service.settings import AgentSettings, from_env


class MessageIn(BaseModel):
    """A user message."""

    content: str


def create_app(settings: AgentSettings | None = None) -> FastAPI:
    """The agent service for ``settings`` (default: ``AGENT_*`` environment variables)."""
    settings = settings or from_env(AgentSettings, "AGENT_")
    if not settings.model_base_url:
        raise ValueError("model_base_url is required (AGENT_MODEL_BASE_URL): an OpenAI-compatible URL ending in /v1")
    agent = Agent(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await agent.close()

    app = FastAPI(title="agent-service", lifespan=lifespan)
    app.add_middleware(agenttrace.AgentTraceMiddleware)
    app.state.agent = agent

    @app.exception_handler(ModelRateLimited)
    async def rate_limited(request: Request, exc: ModelRateLimited) -> Response:
        body, headers = _rate_limited_body(exc)
        return JSONResponse(body, status_code=429, headers=headers)

    @app.exception_handler(ModelUnavailable)
    async def unavailable(request: Request, exc: ModelUnavailable) -> Response:
        return JSONResponse({"error": {"message": str(exc), "type": "model_unavailable"}}, status_code=502)

    @app.exception_handler(UnknownSession)
    async def unknown(request: Request, exc: UnknownSession) -> Response:
        return JSONResponse({"error": {"message": f"no session {exc}", "type": "not_found"}}, status_code=404)

    @app.post("/api/sessions")
    async def new_session() -> dict[str, str]:
        return {"session_id": await agent.new_session()}

    @app.post("/api/sessions/{session_id}/messages")
    async def message(session_id: str, message: MessageIn) -> dict[str, Any]:
        return (await agent.reply(session_id, message.content)).as_dict()

    @app.post("/api/sessions/{session_id}/messages/stream")
    async def message_stream(session_id: str, message: MessageIn) -> Response:
        items = agent.run(session_id, message.content, stream=True)
        first = await anext(items)  # failures before the first event still get their own status code
        return StreamingResponse(
            _events(first, items), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _rate_limited_body(exc: ModelRateLimited) -> tuple[dict[str, Any], dict[str, str]]:
    seconds = max(1, math.ceil(exc.retry_after_s))
    message = f"The model is rate limited; retry after {seconds} s."
    return {"error": {"message": message, "type": "rate_limited", "retry_after": seconds}}, {
        "Retry-After": str(seconds)
    }


def _sse(data: Any, event: str | None = None) -> str:
    return (f"event: {event}\n" if event else "") + f"data: {json.dumps(data)}\n\n"


async def _events(first: str | Turn, items: AsyncGenerator[str | Turn, None]) -> AsyncIterator[str]:
    item = first
    try:
        while not isinstance(item, Turn):
            yield _sse({"content": item})
            item = await anext(items)
        yield _sse(item.as_dict(), "done")
    except ModelRateLimited as exc:
        yield _sse(_rate_limited_body(exc)[0], "error")
    except ModelUnavailable as exc:
        yield _sse({"error": {"message": str(exc), "type": "model_unavailable"}}, "error")
    finally:
        await items.aclose()
