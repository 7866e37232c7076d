"""AgentTraceMiddleware through Starlette's TestClient: span trees, headers, errors, options, our failures."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI, HTTPException
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

import agenttrace
from agenttrace import _names as sc
from agenttrace._asgi import http_attributes as _http
from agenttrace._asgi.middleware import AgentTraceMiddleware
from agenttrace._asgi.server_timing import ResponseHeaders, metric_name
from agenttrace.testing import DURATION, Capture
from tests.trees import node

LOCUST_TRACE = "0af7651916cd43dd8448eb211c80319c"
LOCUST_PARENT = "b7ad6b7169203331"
LOCUST_HEADERS = {
    "traceparent": f"00-{LOCUST_TRACE}-{LOCUST_PARENT}-03",
    "baggage": "agenttrace.run_id=run-42,agenttrace.scenario=checkout,agenttrace.user=7,session=secret",
}
IDENTITY = {"agenttrace.run_id": "run-42", "agenttrace.scenario": "checkout", "agenttrace.user": "7"}


# --- expected-tree helpers (also used by test_middleware_server.py) ------------------------------------


def rollup(llm: int = 0, tool: int = 0, tokens: tuple[int, int] = (0, 0), stages: Any = ()) -> dict[str, Any]:
    """The request span's roll-up; ``stages`` is ``[(name, calls), ...]`` in first-finished order.

    With no stage, the three per-stage arrays are left out rather than sent empty.
    """
    attrs: dict[str, Any] = {
        "agenttrace.llm_calls": llm,
        "agenttrace.tool_calls": tool,
        "gen_ai.usage.input_tokens": tokens[0],
        "gen_ai.usage.output_tokens": tokens[1],
    }
    if stages:
        attrs["agenttrace.stages"] = tuple(name for name, _ in stages)
        attrs["agenttrace.stage_calls"] = tuple(calls for _, calls in stages)
        attrs["agenttrace.stage_durations"] = tuple(DURATION for _ in stages)
    return attrs


def http(path: str, method: str = "GET", status: int | None = 200, route: str | None = None, **more: Any):
    """Attributes of a request span served through the TestClient."""
    attrs: dict[str, Any] = {
        "url.path": path,
        "url.scheme": "http",
        "http.request.method": method,
        "network.protocol.version": "1.1",
        "server.address": "testserver",
        "client.address": "testclient",
        "user_agent.original": "testclient",
    }
    if route is not None:
        attrs["http.route"] = route
    if status is not None:
        attrs["http.response.status_code"] = status
    attrs.update(more)
    return attrs


def llm_node(**identity: Any) -> dict[str, Any]:
    return node(
        "chat gpt-4o-mini",
        "CLIENT",
        **{
            "agenttrace.stage": "llm_call",
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            **identity,
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 20,
        },
    )


def tool_node(**identity: Any) -> dict[str, Any]:
    return node(
        "execute_tool search",
        **{
            "agenttrace.stage": "tool_execution",
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "search",
            **identity,
        },
    )


def normalised(tree: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``cap.tree()``, checking that ``agenttrace.testing`` normalised the time to first byte."""
    for item in tree:
        value = item["attributes"].get(sc.TIME_TO_FIRST_BYTE)
        assert value in (None, DURATION)
        normalised(item["children"])
    return tree


def server_timing(
    *stages: tuple[str, int], trace: str | None, costs: tuple[int, int, int, int] | None = None
) -> re.Pattern[str]:
    """A pattern for a whole Server-Timing value: these stages in order, the costs, total, then the trace.

    ``costs`` is (LLM calls, tool calls, input tokens, output tokens); ``None`` matches any counts.
    """
    parts = [rf'{re.escape(name)};dur=\d+\.\d;desc="{calls}"' for name, calls in stages]
    counts = [r"\d+"] * 4 if costs is None else [str(n) for n in costs]
    names = ("llm_calls", "tool_calls", "input_tokens", "output_tokens")
    parts.extend(f'{name};desc="{n}"' for name, n in zip(names, counts, strict=True))
    parts.append(r"total;dur=\d+\.\d")
    if trace is not None:
        parts.append(f'trace;desc="{trace}"')
    return re.compile(", ".join(parts))


def server_traceparent(cap: Capture) -> str:
    """``00-<trace>-<span>-01`` of the one SERVER span captured."""
    (span,) = [s for s in cap.finished_spans() if s.kind.name == "SERVER"]
    assert span.context is not None
    return f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-01"


# --- the app ------------------------------------------------------------------------------------------

TTFB = {sc.TIME_TO_FIRST_BYTE: DURATION}


@agenttrace.stage("llm_call", model="gpt-4o-mini", provider="openai")
async def call_llm() -> str:
    agenttrace.record_usage(input_tokens=100, output_tokens=20)
    return "answer"


@agenttrace.stage("tool_execution", tool="search")
async def search() -> list[str]:
    return ["doc"]


class AgentFailure(Exception):
    pass


def agent_app(**options: Any) -> FastAPI:
    app = FastAPI()
    app.add_middleware(AgentTraceMiddleware, **options)

    @app.get("/agent/{session}")
    async def agent(session: str) -> dict[str, str]:
        await call_llm()
        await search()
        await call_llm()
        return {"session": session}

    @app.get("/denied")
    async def denied() -> None:
        raise HTTPException(status_code=403, detail="no")

    @app.get("/limited")
    async def limited() -> JSONResponse:
        return JSONResponse({"retry": 1}, status_code=429, headers={"retry-after": "1"})

    @app.get("/unavailable")
    async def unavailable() -> JSONResponse:
        return JSONResponse({}, status_code=503)

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/ready")
    async def ready() -> dict[str, bool]:
        return {"ok": True}

    return app


@pytest.fixture
def client(agenttrace_capture: Capture) -> Iterator[TestClient]:
    with TestClient(agent_app()) as c:
        yield c


# --- tests ------------------------------------------------------------------------------------------


def test_request_span_joins_locust_trace_with_identity_rollup_and_headers(
    client: TestClient, agenttrace_capture: Capture
) -> None:
    long_user = "u" * 500
    headers = {**LOCUST_HEADERS, "baggage": LOCUST_HEADERS["baggage"] + f",agenttrace.user={long_user}"}
    headers["baggage"] = headers["baggage"].replace("agenttrace.user=7,", "")
    response = client.get("/agent/s1", headers=headers)

    assert response.status_code == 200
    assert response.json() == {"session": "s1"}
    identity = {**IDENTITY, "agenttrace.user": "u" * 128}
    assert normalised(agenttrace_capture.tree()) == [
        node(
            "GET /agent/{session}",
            "SERVER",
            children=[llm_node(**identity), tool_node(**identity), llm_node(**identity)],
            **http("/agent/s1", route="/agent/{session}"),
            **identity,
            **rollup(llm=2, tool=1, tokens=(200, 40), stages=[("llm_call", 2), ("tool_execution", 1)]),
            **TTFB,
        )
    ]
    spans = agenttrace_capture.finished_spans()
    assert {f"{s.context.trace_id:032x}" for s in spans if s.context} == {LOCUST_TRACE}
    (server,) = [s for s in spans if s.kind.name == "SERVER"]
    assert server.parent is not None and server.parent.is_remote
    assert f"{server.parent.span_id:016x}" == LOCUST_PARENT
    trace = server_traceparent(agenttrace_capture)
    assert response.headers["traceresponse"] == trace
    assert server_timing(("llm_call", 2), ("tool_execution", 1), trace=trace, costs=(2, 1, 200, 40)).fullmatch(
        response.headers["server-timing"]
    )


def test_without_traceparent_the_request_starts_a_trace(client: TestClient, agenttrace_capture: Capture) -> None:
    response = client.get("/agent/s2")
    assert response.status_code == 200
    spans = agenttrace_capture.spans()
    assert [(s["name"], s["parent"]) for s in spans] == [
        ("chat gpt-4o-mini", 1),
        ("execute_tool search", 1),
        ("chat gpt-4o-mini", 1),
        ("GET /agent/{session}", None),
    ]
    assert not IDENTITY.keys() & spans[-1]["attributes"].keys()


def test_not_found_is_named_by_method_only(client: TestClient, agenttrace_capture: Capture) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert normalised(agenttrace_capture.tree()) == [
        node("GET", "SERVER", **http("/nowhere", status=404), **rollup(), **TTFB)
    ]
    assert server_timing(trace=server_traceparent(agenttrace_capture)).fullmatch(response.headers["server-timing"])


def test_client_errors_and_rate_limits_are_recorded_by_status(client: TestClient, agenttrace_capture: Capture) -> None:
    assert client.get("/denied").status_code == 403
    limited = client.get("/limited")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert client.get("/unavailable").status_code == 503
    assert normalised(agenttrace_capture.tree()) == [
        node("GET /denied", "SERVER", **http("/denied", status=403, route="/denied"), **rollup(), **TTFB),
        node("GET /limited", "SERVER", **http("/limited", status=429, route="/limited"), **rollup(), **TTFB),
        node(
            "GET /unavailable",
            "SERVER",
            "ERROR",
            **http("/unavailable", status=503, route="/unavailable"),
            **rollup(),
            **TTFB,
            **{"error.type": "503"},
        ),
    ]


def test_app_exception_marks_span_and_propagates_unchanged(agenttrace_capture: Capture) -> None:
    raised: list[AgentFailure] = []
    app = agent_app()

    @app.get("/boom/{n}")
    async def boom(n: int) -> None:
        await call_llm()
        raised.append(AgentFailure(f"tool {n} failed"))
        raise raised[-1]

    with TestClient(app) as c, pytest.raises(AgentFailure) as info:
        c.get("/boom/3", headers=LOCUST_HEADERS)
    assert info.value is raised[0]
    assert agenttrace_capture.tree() == [
        node(
            "GET /boom/{n}",
            "SERVER",
            "ERROR",
            events=["exception"],
            children=[llm_node(**IDENTITY)],
            **http("/boom/3", status=500, route="/boom/{n}"),
            **IDENTITY,
            **rollup(llm=1, tokens=(100, 20), stages=[("llm_call", 1)]),
            **{"error.type": "AgentFailure"},
        )
    ]
    (server,) = [s for s in agenttrace_capture.finished_spans() if s.kind.name == "SERVER"]
    assert server.status.description == "AgentFailure: tool 3 failed"
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.get("/boom/4").status_code == 500


def test_excluded_paths_get_no_span_and_no_headers(agenttrace_capture: Capture) -> None:
    with TestClient(agent_app()) as c:
        health = c.get("/health")
        assert c.get("/ready").status_code == 200
    assert health.json() == {"ok": True}
    assert "server-timing" not in health.headers and "traceresponse" not in health.headers
    assert [s["name"] for s in agenttrace_capture.spans()] == ["GET /ready"]

    agenttrace_capture.clear()
    with TestClient(agent_app(excluded_paths=["/ready"])) as c:
        assert c.get("/ready").status_code == 200
        assert c.get("/health").status_code == 200
    assert [s["name"] for s in agenttrace_capture.spans()] == ["GET /health"]


def test_lifespan_passes_through_untouched(agenttrace_capture: Capture) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
        events.append("startup")
        yield {"model": "loaded"}
        events.append("shutdown")

    async def state(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.state.model)

    app = Starlette(routes=[Route("/state", state)], lifespan=lifespan, middleware=[Middleware(AgentTraceMiddleware)])
    with TestClient(app) as c:
        assert events == ["startup"]
        assert c.get("/state").text == "loaded"
    assert events == ["startup", "shutdown"]
    assert [s["name"] for s in agenttrace_capture.spans()] == ["GET /state"]


def test_websocket_gets_one_span_per_connection(agenttrace_capture: Capture) -> None:
    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.receive_text()
                await websocket.send_text(await call_llm())
        except WebSocketDisconnect:
            pass

    app = Starlette(routes=[WebSocketRoute("/ws/{room}", chat)], middleware=[Middleware(AgentTraceMiddleware)])
    with TestClient(app) as c:
        for _ in range(2):
            with c.websocket_connect("/ws/lobby", headers=LOCUST_HEADERS) as ws:
                ws.send_text("hi")
                assert ws.receive_text() == "answer"
                ws.send_text("again")
                assert ws.receive_text() == "answer"
    ws_attrs = {
        "url.path": "/ws/lobby",
        "url.scheme": "ws",
        "network.protocol.name": "websocket",
        "server.address": "testserver",
        "client.address": "testclient",
        "user_agent.original": "testclient",
        **IDENTITY,
        **rollup(llm=2, tokens=(200, 40), stages=[("llm_call", 2)]),
        "http.route": "/ws/{room}",
    }
    connection = node("WS /ws/{room}", "SERVER", children=[llm_node(**IDENTITY)] * 2, **ws_attrs)
    assert agenttrace_capture.tree() == [connection, connection]


def test_server_timing_options_and_browser_exposure(agenttrace_capture: Capture) -> None:
    with TestClient(agent_app(server_timing_stages=["tool_execution"], traceresponse=False)) as c:
        r = c.get("/agent/a")
    assert "traceresponse" not in r.headers
    assert "access-control-expose-headers" not in r.headers and "timing-allow-origin" not in r.headers
    trace = server_traceparent(agenttrace_capture)
    assert server_timing(("tool_execution", 1), trace=trace).fullmatch(r.headers["server-timing"])

    agenttrace_capture.clear()
    with TestClient(agent_app(server_timing=False, expose_headers=True)) as c:
        r = c.get("/agent/b")
    assert "server-timing" not in r.headers
    assert r.headers["traceresponse"] == server_traceparent(agenttrace_capture)
    assert r.headers["access-control-expose-headers"] == "Server-Timing, traceresponse"
    assert r.headers["timing-allow-origin"] == "*"

    async def cors(request: Request) -> PlainTextResponse:
        return PlainTextResponse("x", headers={"Access-Control-Expose-Headers": "X-Request-Id"})

    app = Starlette(
        routes=[Route("/cors", cors)],
        middleware=[Middleware(AgentTraceMiddleware, expose_headers=True, timing_allow_origin="https://app.test")],
    )
    with TestClient(app) as c:
        r = c.get("/cors")
    assert r.headers.get_list("access-control-expose-headers") == ["X-Request-Id, Server-Timing, traceresponse"]
    assert r.headers["timing-allow-origin"] == "https://app.test"


def test_stage_names_become_valid_server_timing_tokens(agenttrace_capture: Capture) -> None:
    assert metric_name("llm call/openai") == "llm_call_openai"
    assert metric_name("total") == "total_stage"
    assert metric_name("trace") == "trace_stage"
    assert [metric_name(n) for n in ("llm_calls", "tool_calls", "input_tokens", "output_tokens")] == [
        "llm_calls_stage",
        "tool_calls_stage",
        "input_tokens_stage",
        "output_tokens_stage",
    ]
    assert metric_name("") == "_"
    assert metric_name("rétrieval") == "r_trieval"

    async def odd(request: Request) -> PlainTextResponse:
        with agenttrace.stage("vector search (pgvector)"):
            pass
        with agenttrace.stage("total"):
            pass
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/odd", odd)], middleware=[Middleware(AgentTraceMiddleware)])
    with TestClient(app) as c:
        r = c.get("/odd")
    trace = server_traceparent(agenttrace_capture)
    expected = server_timing(("vector_search__pgvector_", 1), ("total_stage", 1), trace=trace, costs=(0, 0, 0, 0))
    assert expected.fullmatch(r.headers["server-timing"])


def test_streaming_span_ends_after_last_chunk(agenttrace_capture: Capture) -> None:
    @agenttrace.stage("llm_call", model="gpt-4o-mini", provider="openai")
    async def tokens() -> AsyncIterator[str]:
        for word in ("a", "b", "c"):
            yield f"data: {word}\n\n"

    async def stream(request: Request) -> StreamingResponse:
        await search()
        return StreamingResponse(tokens(), media_type="text/event-stream")

    app = Starlette(routes=[Route("/stream", stream)], middleware=[Middleware(AgentTraceMiddleware)])
    with TestClient(app) as c:
        r = c.get("/stream")
    assert r.text == "data: a\n\ndata: b\n\ndata: c\n\n"
    llm_stream = node(
        "chat gpt-4o-mini",
        "CLIENT",
        **{
            "agenttrace.stage": "llm_call",
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.time_to_first_chunk": DURATION,
        },
    )
    assert normalised(agenttrace_capture.tree()) == [
        node(
            "GET /stream",
            "SERVER",
            children=[tool_node(), llm_stream],
            **http("/stream", route="/stream"),
            **rollup(llm=1, tool=1, stages=[("tool_execution", 1), ("llm_call", 1)]),
            **TTFB,
        )
    ]
    # Only what finished before the headers is in Server-Timing; the streamed stage is in the trace.
    trace = server_traceparent(agenttrace_capture)
    assert server_timing(("tool_execution", 1), trace=trace).fullmatch(r.headers["server-timing"])
    finished = agenttrace_capture.finished_spans()
    assert [s.name for s in finished][-1] == "GET /stream"
    assert finished[-1].end_time is not None and finished[-2].end_time is not None
    assert finished[-1].end_time >= finished[-2].end_time


def test_unknown_method_and_mounted_route(agenttrace_capture: Capture) -> None:
    async def item(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.path_params["item_id"])

    app = Starlette(
        routes=[Mount("/api", routes=[Route("/items/{item_id}", item)])],
        middleware=[Middleware(AgentTraceMiddleware)],
    )
    with TestClient(app) as c:
        assert c.get("/api/items/9").text == "9"
        assert c.request("PURGE", "/api/items/9").status_code == 405
    assert [(s["name"], s["attributes"].get("http.route")) for s in agenttrace_capture.spans()] == [
        ("GET /api/items/{item_id}", "/api/items/{item_id}"),
        ("HTTP /api/items/{item_id}", "/api/items/{item_id}"),
    ]
    purge = agenttrace_capture.spans()[1]["attributes"]
    assert (purge["http.request.method"], purge["http.request.method_original"]) == ("_OTHER", "PURGE")


def test_request_duration_metric(client: TestClient, agenttrace_capture: Capture) -> None:
    client.get("/agent/m", headers=LOCUST_HEADERS)
    client.get("/limited")
    assert agenttrace_capture.metrics()["http.server.request.duration"] == [
        (
            {
                "http.request.method": "GET",
                "url.scheme": "http",
                "http.route": "/agent/{session}",
                "http.response.status_code": 200,
                "agenttrace.run_id": "run-42",
            },
            1,
        ),
        (
            {
                "http.request.method": "GET",
                "url.scheme": "http",
                "http.route": "/limited",
                "http.response.status_code": 429,
            },
            1,
        ),
    ]


def test_unsampled_requests_still_get_server_timing(agenttrace_capture: Capture) -> None:
    with TestClient(agent_app(tracer_provider=TracerProvider(sampler=ALWAYS_OFF))) as c:
        r = c.get("/agent/u")
    assert r.status_code == 200
    assert agenttrace_capture.spans() == []
    trace = r.headers["traceresponse"]
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-00", trace)
    assert server_timing(("llm_call", 2), ("tool_execution", 1), trace=trace).fullmatch(r.headers["server-timing"])


def test_constructor_rejects_mistakes() -> None:
    app = agent_app()
    with pytest.raises(TypeError, match="excluded_paths"):
        AgentTraceMiddleware(app, excluded_paths="/health")
    with pytest.raises(TypeError, match="server_timing_stages"):
        AgentTraceMiddleware(app, server_timing_stages="llm_call")
    with pytest.raises(ValueError, match="timing_allow_origin"):
        AgentTraceMiddleware(app, timing_allow_origin="a\r\nb")
    with pytest.raises(TypeError, match="ASGI app"):
        AgentTraceMiddleware(None)  # type: ignore[arg-type]


# --- our own failures never reach the app --------------------------------------------------------------


def _broken(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("agenttrace bug")


def test_failure_starting_the_span_serves_the_request_untraced(
    client: TestClient, agenttrace_capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTTRACE_RERAISE_INTERNAL_ERRORS", "0")
    monkeypatch.setattr(_http, "scan_headers", _broken)
    r = client.get("/agent/x", headers=LOCUST_HEADERS)
    assert (r.status_code, r.json()) == (200, {"session": "x"})
    assert "server-timing" not in r.headers
    # The stages still run (as a trace of their own: there is no request span to join).
    names = [s["name"] for s in agenttrace_capture.spans()]
    assert names == ["chat gpt-4o-mini", "execute_tool search", "chat gpt-4o-mini"]


def test_failure_building_headers_keeps_the_response_and_the_span(
    client: TestClient, agenttrace_capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTTRACE_RERAISE_INTERNAL_ERRORS", "0")
    monkeypatch.setattr(ResponseHeaders, "build", _broken)
    r = client.get("/agent/y")
    assert (r.status_code, r.json(), r.headers["content-length"]) == (200, {"session": "y"}, "15")
    assert "server-timing" not in r.headers and "traceresponse" not in r.headers
    (server,) = [s for s in normalised(agenttrace_capture.tree())]
    assert server["name"] == "GET /agent/{session}"
    assert server["attributes"]["agenttrace.llm_calls"] == 2


def test_failure_ending_the_span_still_ends_it(
    client: TestClient, agenttrace_capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTTRACE_RERAISE_INTERNAL_ERRORS", "0")
    monkeypatch.setattr(_http, "route_template", _broken)
    r = client.get("/agent/z")
    assert (r.status_code, r.json()) == (200, {"session": "z"})
    # The route could not be read, so the span keeps its first name; it is ended all the same.
    assert [(s["name"], s["kind"]) for s in agenttrace_capture.spans()][-1] == ("GET", "SERVER")


def test_internal_errors_surface_under_pytest(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ResponseHeaders, "build", _broken)
    with pytest.raises(RuntimeError, match="agenttrace bug"):
        client.get("/agent/w")


def test_route_template_without_route_in_scope_as_starlette_before_1_0_leaves_it() -> None:
    """Starlette < 1.0 leaves only ``endpoint`` and ``router``: the route is found from them."""

    async def shared(request: Request) -> PlainTextResponse:
        return PlainTextResponse("")

    async def inner(request: Request) -> PlainTextResponse:
        return PlainTextResponse("")

    router = Starlette(
        routes=[Route("/a/{x}", shared), Route("/b/{y}", shared), Mount("/m", routes=[Route("/c/{z}", inner)])]
    ).router
    top = {"type": "http", "endpoint": shared, "router": router, "path": "/b/1", "root_path": ""}
    assert _http.route_template(top, "") == "/b/{y}"
    mounted = {"type": "http", "endpoint": inner, "router": router, "path": "/m/c/1", "root_path": "/m"}
    assert _http.route_template(mounted, "") == "/m/c/{z}"
    assert _http.route_template({"type": "http", "path": "/b/1", "root_path": ""}, "") is None


async def test_request_cancelled_by_the_server_ends_with_outcome_cancelled(agenttrace_capture: Capture) -> None:
    entered = asyncio.Event()

    async def stalled(scope: Any, receive: Any, send: Any) -> None:
        with agenttrace.stage("context_load"):
            entered.set()
            await asyncio.Event().wait()  # never set: the server cancels the request task

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        raise AssertionError(f"nothing is sent: {message}")

    scope = {"type": "http", "method": "GET", "path": "/slow", "scheme": "http", "http_version": "1.1",
             "headers": [], "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 5000)}  # fmt: skip
    task = asyncio.create_task(AgentTraceMiddleware(stalled)(scope, receive, send))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stage = node("context_load", **{"agenttrace.stage": "context_load", "agenttrace.outcome": "cancelled"})
    attrs = {
        "url.path": "/slow",
        "url.scheme": "http",
        "http.request.method": "GET",
        "network.protocol.version": "1.1",
        "server.address": "127.0.0.1",
        "server.port": 8000,
        "client.address": "127.0.0.1",
        **rollup(stages=[("context_load", 1)]),
        "agenttrace.outcome": "cancelled",
    }
    assert agenttrace_capture.tree() == [node("GET", "SERVER", children=[stage], **attrs)]
