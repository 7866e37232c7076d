"""A small agent service for the live page tests, exporting over real OTLP/HTTP to a real collector.

Per request: context loading, two model calls through a capacity-limited "model" (so latency grows with
concurrency), one tool call; every seventh request's tool fails (a 500). ``LoadRun`` serves it with uvicorn on
127.0.0.1 and drives bounded bursts of concurrent requests carrying a run id in W3C baggage.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import uvicorn
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import agenttrace
from agenttrace._asgi.middleware import AgentTraceMiddleware

MODEL_CAPACITY = 3
# Simulated work of each stage (the service's own latency, not synchronisation).
MODEL_S = 0.02
TOOL_S = 0.01


def create_app(provider: TracerProvider) -> Starlette:
    model = asyncio.Semaphore(MODEL_CAPACITY)
    served = [0]

    @agenttrace.stage("llm_call", model="gpt-4o-mini", provider="openai", tracer_provider=provider)
    async def call_llm() -> None:
        async with model:
            await asyncio.sleep(MODEL_S)
        agenttrace.record_usage(input_tokens=300, output_tokens=40)

    @agenttrace.stage("tool_execution", tool="search", tracer_provider=provider)
    async def search(fail: bool) -> None:
        await asyncio.sleep(TOOL_S)
        if fail:
            raise RuntimeError("search backend unavailable")

    async def ask(request: Request) -> PlainTextResponse:
        served[0] += 1
        number = served[0]  # this request's number: the counter moves on while it awaits
        with agenttrace.stage("context_load", tracer_provider=provider):
            await asyncio.sleep(0.002)
        await call_llm()
        try:
            await search(fail=number % 7 == 0)
        except RuntimeError:
            return PlainTextResponse("tool failed", status_code=500)
        await call_llm()
        return PlainTextResponse("ok")

    middleware = [Middleware(AgentTraceMiddleware, tracer_provider=provider)]
    return Starlette(routes=[Route("/ask", ask, methods=["POST"])], middleware=middleware)


class LoadRun:
    """The service on a free port, and bursts of load against it; spans go to ``collector_url``."""

    def __init__(self, collector_url: str, run_id: str, token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        exporter = OTLPSpanExporter(endpoint=f"{collector_url}/v1/traces", headers=headers)
        self.provider = TracerProvider(resource=Resource.create({"service.name": "agent-api"}))
        self.provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=20_000))
        self.run_id = run_id
        self.requests = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)  # connections wait in the backlog until uvicorn accepts them: no start-up race
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(create_app(self.provider), lifespan="off", log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=lambda: self._server.run(sockets=[self._sock]), daemon=True)

    def burst(self, requests: int, concurrency: int) -> list[int]:
        """Send ``requests`` requests, ``concurrency`` at a time; flush their spans; return the status codes."""
        baggage = {"baggage": f"agenttrace.run_id={self.run_id},agenttrace.scenario=ask"}
        with httpx.Client(timeout=30) as client, ThreadPoolExecutor(concurrency) as pool:
            codes = list(
                pool.map(lambda _: client.post(f"{self.url}/ask", headers=baggage).status_code, range(requests))
            )
        self.requests += requests
        assert self.provider.force_flush(30_000)
        return codes

    @contextmanager
    def serving(self) -> Iterator[LoadRun]:
        self._thread.start()
        try:
            yield self
        finally:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self.provider.shutdown()
            self._sock.close()
