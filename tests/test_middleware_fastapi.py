"""FastAPI >= 0.165 traces requests itself: with AgentTraceMiddleware there is still one SERVER span."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import agenttrace
from agenttrace._asgi import fastapi as fastapi_telemetry
from agenttrace.testing import Capture
from tests.test_middleware import server_timing

pytest.importorskip("fastapi.telemetry", reason="FastAPI < 0.165 has no telemetry of its own")

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03"
BAGGAGE = "agenttrace.run_id=r42,agenttrace.scenario=checkout,agenttrace.user=7"
IDENTITY = {"agenttrace.run_id": "r42", "agenttrace.scenario": "checkout", "agenttrace.user": "7"}


def build(telemetry: dict[str, Any]) -> FastAPI:
    app = FastAPI(telemetry=telemetry)

    @app.get("/tickets/{ticket}")
    async def ticket(ticket: str) -> dict[str, str]:
        with agenttrace.stage("llm_call", model="m") as s:
            s.record_usage(input_tokens=10, output_tokens=2)
        return {"ticket": ticket}

    return app


def check_one_server_span(cap: Capture, response: Any, tree: list[tuple[str, str]]) -> dict[str, Any]:
    spans = cap.spans()
    names = {s["id"]: s["name"] for s in spans}
    assert sorted((s["name"], names.get(s["parent"], s["parent"])) for s in spans) == sorted(tree)
    [server] = [s for s in spans if s["kind"] == "SERVER"]
    [llm] = [s for s in spans if s["name"] == "chat m"]
    assert llm["attributes"]["agenttrace.run_id"] == "r42"
    raw = [s for s in cap.finished_spans() if s.kind.name == "SERVER"][0]
    assert raw.context is not None
    assert f"{raw.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    expected = f"00-{raw.context.trace_id:032x}-{raw.context.span_id:016x}-01"
    assert response.headers["traceresponse"] == expected
    assert server_timing(("llm_call", 1), trace=expected).fullmatch(response.headers["server-timing"])
    attributes = server["attributes"]
    for key, value in {
        **IDENTITY,
        "agenttrace.llm_calls": 1,
        "agenttrace.tool_calls": 0,
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 2,
        "agenttrace.stages": ("llm_call",),
        "agenttrace.stage_calls": (1,),
        "http.route": "/tickets/{ticket}",
        "http.response.status_code": 200,
        "http.request.method": "GET",
    }.items():
        assert attributes[key] == value, key
    return attributes


def test_middleware_inside_fastapi_adopts_fastapis_span(agenttrace_capture: Capture) -> None:
    app = build({"tracer_provider": agenttrace_capture.tracer_provider, "metrics": False, "logs": False})
    app.add_middleware(agenttrace.AgentTraceMiddleware)
    with TestClient(app) as client:
        response = client.get("/tickets/t-1", headers={"traceparent": TRACEPARENT, "baggage": BAGGAGE})
    assert response.status_code == 200
    tree = [
        ("GET /tickets/{ticket}", "remote"),
        ("fastapi.dependencies", "GET /tickets/{ticket}"),
        ("fastapi.endpoint", "GET /tickets/{ticket}"),
        ("fastapi.serialization", "GET /tickets/{ticket}"),
        ("chat m", "fastapi.endpoint"),
    ]
    attributes = check_one_server_span(agenttrace_capture, response, tree)
    assert attributes["agenttrace.response.time_to_first_byte"] == "<duration>"


def test_middleware_outside_fastapi_turns_fastapis_span_off(agenttrace_capture: Capture) -> None:
    app = build({"tracer_provider": agenttrace_capture.tracer_provider, "metrics": False, "logs": False})
    wrapped = agenttrace.AgentTraceMiddleware(app)
    with TestClient(wrapped) as client:
        response = client.get("/tickets/t-1", headers={"traceparent": TRACEPARENT, "baggage": BAGGAGE})
    assert response.status_code == 200
    tree = [("GET /tickets/{ticket}", "remote"), ("chat m", "GET /tickets/{ticket}")]
    check_one_server_span(agenttrace_capture, response, tree)


def test_adopted_span_on_app_error(agenttrace_capture: Capture) -> None:
    app = FastAPI(telemetry={"tracer_provider": agenttrace_capture.tracer_provider, "metrics": False, "logs": False})

    @app.get("/boom")
    async def boom() -> None:
        with agenttrace.stage("tool_execution", tool="lookup"):
            pass
        raise RuntimeError("tool failed")

    app.add_middleware(agenttrace.AgentTraceMiddleware)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/boom").status_code == 500
    [server] = [s for s in agenttrace_capture.spans() if s["kind"] == "SERVER"]
    assert server["status"] == "ERROR"
    assert server["attributes"]["error.type"] == "RuntimeError"
    assert server["attributes"]["agenttrace.tool_calls"] == 1


def build_with_health(cap: Capture, **telemetry: Any) -> FastAPI:
    """An app whose FastAPI telemetry traces and meters into ``cap`` (operation spans on)."""
    providers = {"tracer_provider": cap.tracer_provider, "meter_provider": cap.meter_provider}
    app = build({**providers, "logs": False, **telemetry})

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def test_excluded_path_outside_fastapi_makes_no_span_and_no_metric(agenttrace_capture: Capture) -> None:
    wrapped = agenttrace.AgentTraceMiddleware(build_with_health(agenttrace_capture))
    with TestClient(wrapped) as client:
        response = client.get("/health", headers={"traceparent": TRACEPARENT, "baggage": BAGGAGE})
        assert (response.status_code, response.json()) == (200, {"status": "ok"})
        assert "server-timing" not in response.headers and "traceresponse" not in response.headers
        assert agenttrace_capture.spans() == []
        assert agenttrace_capture.metrics() == {}
        response = client.get("/tickets/t-1", headers={"traceparent": TRACEPARENT, "baggage": BAGGAGE})
    assert response.status_code == 200
    check_one_server_span(
        agenttrace_capture, response, [("GET /tickets/{ticket}", "remote"), ("chat m", "GET /tickets/{ticket}")]
    )
    [(attributes, count)] = agenttrace_capture.metrics()["http.server.request.duration"]
    assert (attributes["http.route"], count) == ("/tickets/{ticket}", 1)


def test_excluded_path_inside_fastapi_with_its_exclude_makes_no_span_and_no_metric(
    agenttrace_capture: Capture, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_with_health(agenttrace_capture, exclude=agenttrace.AgentTraceMiddleware.excludes())
    app.add_middleware(agenttrace.AgentTraceMiddleware)
    with TestClient(app) as client:
        response = client.get("/health", headers={"traceparent": TRACEPARENT, "baggage": BAGGAGE})
        assert (response.status_code, response.json()) == (200, {"status": "ok"})
        assert "server-timing" not in response.headers
        assert agenttrace_capture.spans() == []
        assert agenttrace_capture.metrics() == {}
        response = client.get("/tickets/t-1", headers={"traceparent": TRACEPARENT, "baggage": BAGGAGE})
    tree = [
        ("GET /tickets/{ticket}", "remote"),
        ("fastapi.dependencies", "GET /tickets/{ticket}"),
        ("fastapi.endpoint", "GET /tickets/{ticket}"),
        ("fastapi.serialization", "GET /tickets/{ticket}"),
        ("chat m", "fastapi.endpoint"),
    ]
    check_one_server_span(agenttrace_capture, response, tree)
    assert caplog.records == []


def test_excluded_path_inside_fastapi_without_its_exclude_says_how_once(
    agenttrace_capture: Capture, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fastapi_telemetry, "_warned", False)
    app = build_with_health(agenttrace_capture)
    app.add_middleware(agenttrace.AgentTraceMiddleware)
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/health").status_code == 200
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            "agenttrace: FastAPI traces the excluded path '/health' itself; pass "
            'FastAPI(telemetry={"exclude": AgentTraceMiddleware.excludes(...)}) to exclude it there too',
        )
    ]


def test_excludes_rejects_a_bare_string() -> None:
    message = r"^AgentTraceMiddleware: paths must be a collection of strings, got '/health'$"
    with pytest.raises(TypeError, match=message):
        agenttrace.AgentTraceMiddleware.excludes("/health")
