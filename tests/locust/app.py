"""A tiny agent service for the Locust plugin tests: fixed stages, calls and tokens per request."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

import agenttrace
from agenttrace._asgi.middleware import AgentTraceMiddleware


@agenttrace.stage("llm_call", model="gpt-4o-mini", provider="openai")
async def call_llm() -> None:
    agenttrace.record_usage(input_tokens=100, output_tokens=20)


@agenttrace.stage("tool_execution", tool="search")
async def search() -> None:
    pass


def create_app(seen: list[dict[str, str]]) -> Starlette:
    """The app; every request's headers are appended to ``seen`` (it is the server's own request count)."""

    async def ask(request: Request) -> PlainTextResponse:
        seen.append({k: v for k, v in request.headers.items() if k in ("traceparent", "baggage")})
        seen[-1]["traceparent_count"] = str(len(request.headers.getlist("traceparent")))
        with agenttrace.stage("context_load"):
            pass
        await call_llm()
        await search()
        await call_llm()
        return PlainTextResponse("ok")

    async def limited(request: Request) -> JSONResponse:
        seen.append({})
        return JSONResponse({"error": "rate limited", "retry": 1}, status_code=429)

    async def broken(request: Request) -> PlainTextResponse:
        seen.append({})
        return PlainTextResponse("no", status_code=500)

    async def agent(request: Request) -> JSONResponse:
        """The example locustfile's endpoint: every fourth request is shed with a 429 that says "retry"."""
        body = await request.json()
        seen.append({"messages": str(len(body["messages"]))})
        if len(seen) % 4 == 0:
            return JSONResponse({"error": "rate limited", "retry": 1}, status_code=429)
        await call_llm()
        if body["tools"]:
            await search()
        return JSONResponse({"answer": "ok"})

    routes = [
        Route("/ask", ask),
        Route("/limited", limited),
        Route("/broken", broken),
        Route("/agent", agent, methods=["POST"]),
    ]
    return Starlette(routes=routes, middleware=[Middleware(AgentTraceMiddleware)])
