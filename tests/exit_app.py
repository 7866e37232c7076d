"""A tiny traced Starlette service served by real servers in test_exit.py (uvicorn, gunicorn, hypercorn).

``configure()`` runs at import, as in a real service: export goes over OTLP per the ``OTEL_*`` environment.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import agenttrace

agenttrace.configure(service_name="svc-exit")


@agenttrace.stage("llm_call", model="m")
async def call_llm() -> None:
    agenttrace.record_usage(input_tokens=3, output_tokens=1)


async def chat(request: Request) -> PlainTextResponse:
    await call_llm()
    return PlainTextResponse("ok")


app = agenttrace.AgentTraceMiddleware(Starlette(routes=[Route("/chat", chat)]))
