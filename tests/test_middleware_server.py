"""AgentTraceMiddleware behind a real uvicorn on 127.0.0.1, driven by httpx.

Concurrency (500 requests in flight at once, each with its own counts), Locust-style trace propagation,
streaming, and a client that disconnects mid-stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

import agenttrace
from agenttrace import _names as sc
from agenttrace._asgi.middleware import AgentTraceMiddleware
from agenttrace.testing import DURATION, Capture
from examples.serving import serve
from tests.conftest import SpanWaiter
from tests.test_middleware import (
    IDENTITY,
    LOCUST_HEADERS,
    LOCUST_TRACE,
    TTFB,
    call_llm,
    llm_node,
    normalised,
    rollup,
    search,
    server_timing,
    tool_node,
)
from tests.trees import node

CONCURRENCY = 500
UA = f"python-httpx/{httpx.__version__}"


def real_http(base_url: str, path: str, route: str, status: int = 200) -> dict[str, Any]:
    """Attributes of a request span served by uvicorn to httpx."""
    return {
        "url.path": path,
        "url.scheme": "http",
        "http.request.method": "GET",
        "network.protocol.version": "1.1",
        "server.address": "127.0.0.1",
        "server.port": int(base_url.rsplit(":", 1)[1]),
        "client.address": "127.0.0.1",
        "user_agent.original": UA,
        "http.route": route,
        "http.response.status_code": status,
    }


def client() -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    return httpx.AsyncClient(limits=limits, timeout=30, trust_env=False)


async def test_500_concurrent_requests_each_get_exactly_their_own_counts(
    agenttrace_capture: Capture, ended_spans: SpanWaiter
) -> None:
    app = FastAPI()
    app.add_middleware(AgentTraceMiddleware)
    arrived = 0
    everyone_in: asyncio.Event | None = None

    @agenttrace.stage("llm_call", model="m")
    async def llm(i: int, first: bool) -> None:
        nonlocal arrived, everyone_in
        agenttrace.record_usage(input_tokens=i, output_tokens=1)
        if first:  # hold every request inside its first stage until all of them are in flight
            everyone_in = everyone_in or asyncio.Event()
            arrived += 1
            if arrived == CONCURRENCY:
                everyone_in.set()
            await asyncio.wait_for(everyone_in.wait(), timeout=30)
        await asyncio.sleep(0)

    @agenttrace.stage("tool_execution", tool="lookup")
    async def tool() -> None:
        await asyncio.sleep(0)

    @app.get("/work/{i}")
    async def work(i: int) -> dict[str, int]:
        for k in range(i % 5 + 1):
            await llm(i, first=k == 0)
            if k < i % 3:
                await tool()
        return {"i": i}

    def expected(i: int) -> tuple[int, int]:
        return i % 5 + 1, min(i % 3, i % 5 + 1)

    with serve(app) as base_url:
        async with client() as http:

            async def one(i: int) -> httpx.Response:
                baggage = f"agenttrace.run_id=run-c,agenttrace.user=u{i}"
                return await http.get(f"{base_url}/work/{i}", headers={"baggage": baggage})

            responses = await asyncio.gather(*(one(i) for i in range(CONCURRENCY)))
        spans = ended_spans.wait_for_kind("SERVER", CONCURRENCY)

    assert arrived == CONCURRENCY
    servers = {s.attributes["agenttrace.user"]: s for s in spans if s.kind.name == "SERVER" and s.attributes}
    assert len(servers) == CONCURRENCY
    for i, response in enumerate(responses):
        assert (response.status_code, response.json()) == (200, {"i": i})
        llms, tools = expected(i)
        span = servers[f"u{i}"]
        assert span.context is not None
        trace = f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-01"
        assert response.headers["traceresponse"] == trace
        stages = [("llm_call", llms)] + ([("tool_execution", tools)] if tools else [])
        costs = (llms, tools, llms * i, llms)
        assert server_timing(*stages, trace=trace, costs=costs).fullmatch(response.headers["server-timing"]), i
        attributes = dict(span.attributes or {})
        assert attributes["http.route"] == "/work/{i}"
        assert attributes["agenttrace.run_id"] == "run-c"
        assert (attributes["agenttrace.llm_calls"], attributes["agenttrace.tool_calls"]) == (llms, tools)
        assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (llms * i, llms)
        assert attributes["agenttrace.stage_calls"] == tuple(calls for _, calls in stages)
    # Every stage span sits under its own request's span and carries that request's identity.
    by_id = {s.context.span_id: s for s in servers.values() if s.context}
    stage_spans = [s for s in spans if s.kind.name != "SERVER"]
    assert len(stage_spans) == sum(sum(expected(i)) for i in range(CONCURRENCY))
    per_user: dict[str, list[str]] = {}
    for s in stage_spans:
        assert s.parent is not None and s.attributes is not None
        user = s.attributes["agenttrace.user"]
        assert by_id[s.parent.span_id].attributes == servers[user].attributes  # its own request's span
        assert (s.attributes["agenttrace.run_id"], s.context and s.context.trace_id) == (
            "run-c",
            servers[user].context and servers[user].context.trace_id,  # type: ignore[union-attr]
        )
        per_user.setdefault(str(user), []).append(s.name)
    for i in range(CONCURRENCY):
        llms, tools = expected(i)
        assert sorted(per_user[f"u{i}"]) == sorted(["chat m"] * llms + ["execute_tool lookup"] * tools), i


async def test_locust_traceparent_and_baggage_through_real_server(
    agenttrace_capture: Capture, ended_spans: SpanWaiter
) -> None:
    app = FastAPI()
    app.add_middleware(AgentTraceMiddleware)

    @app.post("/chat/{session}")
    async def chat(session: str) -> dict[str, str]:
        await call_llm()
        await search()
        return {"answer": await call_llm()}

    with serve(app) as base_url:
        async with client() as http:
            response = await http.post(f"{base_url}/chat/s9", headers=LOCUST_HEADERS, json={"q": "hi"})
        ended_spans.wait_for_kind("SERVER", 1)

    assert response.json() == {"answer": "answer"}
    attrs = {**real_http(base_url, "/chat/s9", "/chat/{session}"), "http.request.method": "POST"}
    assert normalised(agenttrace_capture.tree()) == [
        node(
            "POST /chat/{session}",
            "SERVER",
            children=[llm_node(**IDENTITY), tool_node(**IDENTITY), llm_node(**IDENTITY)],
            **attrs,
            **IDENTITY,
            **rollup(llm=2, tool=1, tokens=(200, 40), stages=[("llm_call", 2), ("tool_execution", 1)]),
            **TTFB,
        )
    ]
    assert [(s["trace"], s["parent"]) for s in agenttrace_capture.spans()][-1] == (1, "remote")
    assert {f"{s.context.trace_id:032x}" for s in agenttrace_capture.finished_spans() if s.context} == {LOCUST_TRACE}
    [server] = [s for s in agenttrace_capture.finished_spans() if s.kind.name == "SERVER"]
    assert server.context is not None
    assert response.headers["traceresponse"] == f"00-{LOCUST_TRACE}-{server.context.span_id:016x}-01"


def stream_app(gate: asyncio.Event | None = None) -> Starlette:
    """SSE endpoint: a search, then an LLM stage streaming three events (waiting on ``gate`` after the first)."""

    @agenttrace.stage("llm_call", model="gpt-4o-mini", provider="openai")
    async def tokens() -> AsyncIterator[str]:
        for n, word in enumerate(("a", "b", "c")):
            if n == 1 and gate is not None:
                await gate.wait()
            yield f"data: {word}\n\n"

    async def stream(request: Request) -> StreamingResponse:
        await search()
        return StreamingResponse(tokens(), media_type="text/event-stream")

    return Starlette(routes=[Route("/stream", stream)], middleware=[Middleware(AgentTraceMiddleware)])


LLM_STREAM = {
    "agenttrace.stage": "llm_call",
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.time_to_first_chunk": DURATION,
}


async def test_streaming_response_span_covers_the_whole_stream(
    agenttrace_capture: Capture, ended_spans: SpanWaiter
) -> None:
    with serve(stream_app()) as base_url:
        async with client() as http, http.stream("GET", f"{base_url}/stream") as response:
            body = b"".join([chunk async for chunk in response.aiter_bytes()])
        spans = ended_spans.wait_for_kind("SERVER", 1)

    assert body == b"data: a\n\ndata: b\n\ndata: c\n\n"
    assert normalised(agenttrace_capture.tree()) == [
        node(
            "GET /stream",
            "SERVER",
            children=[tool_node(), node("chat gpt-4o-mini", "CLIENT", **LLM_STREAM)],
            **real_http(base_url, "/stream", "/stream"),
            **rollup(llm=1, tool=1, stages=[("tool_execution", 1), ("llm_call", 1)]),
            **TTFB,
        )
    ]
    assert [s.name for s in spans] == ["execute_tool search", "chat gpt-4o-mini", "GET /stream"]
    assert spans[2].end_time is not None and spans[1].end_time is not None
    assert spans[2].end_time >= spans[1].end_time
    ttfb = spans[2].attributes[sc.TIME_TO_FIRST_BYTE]  # type: ignore[index]
    assert spans[2].start_time is not None
    assert 0 < ttfb * 1e9 <= spans[2].end_time - spans[2].start_time  # type: ignore[operator]


async def test_client_disconnect_mid_stream_ends_span_and_running_stage(
    agenttrace_capture: Capture, ended_spans: SpanWaiter
) -> None:
    gate = asyncio.Event()  # never set: the stream stalls after its first event until it is cancelled
    with serve(stream_app(gate)) as base_url:
        async with client() as http, http.stream("GET", f"{base_url}/stream") as response:
            first = await anext(response.aiter_raw())
        # Leaving the block closes the connection with the body unread: the client has gone.
        ended_spans.wait_for_kind("SERVER", 1)

    assert first == b"data: a\n\n"
    cancelled_llm = node("chat gpt-4o-mini", "CLIENT", **LLM_STREAM, **{"agenttrace.outcome": "cancelled"})
    assert normalised(agenttrace_capture.tree()) == [
        node(
            "GET /stream",
            "SERVER",
            children=[tool_node(), cancelled_llm],
            **real_http(base_url, "/stream", "/stream"),
            **rollup(llm=1, tool=1, stages=[("tool_execution", 1), ("llm_call", 1)]),
            **TTFB,
            **{"agenttrace.client_disconnected": True},
        )
    ]


async def test_asgi_2_4_disconnect_raised_by_send(agenttrace_capture: Capture) -> None:
    """Servers on ASGI 2.4 raise OSError from send once the client is gone; Starlette turns it into
    ClientDisconnect. That is recorded as a disconnect, not a failure, and propagates unchanged."""
    app = stream_app()
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.body" and message["body"]:
            raise OSError("connection reset")
        sent.append(message["type"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/stream",
        "raw_path": b"/stream",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"agent.test:8000")],
        "client": ("10.0.0.1", 5000),
        "server": ("10.0.0.2", 8000),
    }
    with pytest.raises(ClientDisconnect):
        await app(scope, receive, send)
    assert sent == ["http.response.start"]
    (server,) = [s for s in agenttrace_capture.spans() if s["kind"] == "SERVER"]
    assert server["status"] == "UNSET"
    assert server["attributes"]["agenttrace.client_disconnected"] is True
    assert (server["attributes"]["server.address"], server["attributes"]["server.port"]) == ("agent.test", 8000)
    assert "error.type" not in server["attributes"]
