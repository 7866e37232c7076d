"""The live page's routes on a running collector: its files, a trace's spans, a run's series, the token rule."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agenttrace.collector import Collector, CollectorConfig
from tests.report.conftest import CLIENT, T0, S, export_request, request, stage, tokens

TOKEN = {"Authorization": "Bearer tok"}
PROTOBUF = {"content-type": "application/x-protobuf", **TOKEN}


def _spans() -> list[S]:
    """Two requests 1.5 s apart (run-a), the first with a model call and a failing tool; one span of run-b."""
    llm = {"gen_ai.request.model": "m", **tokens(10, 2)}
    ttfb = "agenttrace.response.time_to_first_byte"
    first = [
        request(1, 0, 400, "chat", "/chat", 200, **{"agenttrace.llm_calls": 1, "url.path": "/chat", ttfb: 0.25}),
        stage(1, 2, 1, 10, 210, "llm_call", **llm),
        stage(1, 3, 1, 220, 380, "tool", error=True, **{"error.type": "TimeoutError"}),
    ]
    first[1].kind = CLIENT
    second = [
        request(2, 1500, 2100, "chat", "/chat", 503, **{ttfb: 0.5}),
        stage(2, 2, 1, 1510, 2090, "llm_call", **llm),
    ]
    other = S(3, 1, None, 0, 10, name="GET /x", attrs={"agenttrace.run_id": "run-b"})
    return [*first, *second, other]


@pytest.fixture
def base(tmp_path: Path) -> Iterator[str]:
    collector = Collector(CollectorConfig(db=tmp_path / "spans.duckdb", http="127.0.0.1:0", grpc=None, token="tok"))
    collector.start()
    try:
        assert collector.api_url is not None
        response = httpx.post(f"{collector.api_url}/v1/traces", content=export_request(_spans()), headers=PROTOBUF)
        assert response.status_code == 200
        yield collector.api_url
    finally:
        collector.stop()


def test_trace_has_every_span_with_all_attributes(base: str) -> None:
    response = httpx.get(f"{base}/api/v1/traces/{1:032x}", headers=TOKEN)
    assert response.status_code == 200
    trace = response.json()
    assert trace["trace_id"] == f"{1:032x}" and trace["truncated"] is False
    assert [(s["span_id"], s["parent_span_id"], s["name"], s["kind"], s["status_code"]) for s in trace["spans"]] == [
        (f"{1:016x}", None, "POST /chat", "SERVER", "UNSET"),
        (f"{2:016x}", f"{1:016x}", "llm_call", "CLIENT", "UNSET"),
        (f"{3:016x}", f"{1:016x}", "tool", "INTERNAL", "ERROR"),
    ]
    server, llm, tool = trace["spans"]
    assert (server["start_ns"], server["end_ns"]) == (T0, T0 + 400_000_000)
    assert server["attributes"] == {
        "agenttrace.llm_calls": 1,
        "agenttrace.run_id": "run-a",
        "agenttrace.scenario": "chat",
        "http.request.method": "POST",
        "http.response.status_code": 200,
        "http.route": "/chat",
        "agenttrace.response.time_to_first_byte": 0.25,  # not a column: decoded from otlp_rest
        "url.path": "/chat",
    }
    assert llm["stage"] == "llm_call"
    assert llm["attributes"] == {
        "agenttrace.run_id": "run-a",
        "agenttrace.stage": "llm_call",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "m",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 2,
    }
    assert (tool["status_message"], tool["attributes"]["error.type"]) == ("boom", "TimeoutError")
    assert server["resource_attributes"] == {"service.name": "agent"} and server["service_name"] == "agent"
    assert server["events"] == []


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        (f"/api/v1/traces/{9:032x}", 404, f"no spans of trace {9:032x} in the span store"),
        ("/api/v1/traces/XYZ", 400, "a trace id is 32 lowercase hex digits, got 'XYZ'"),
        ("/api/v1/traces/", 400, "a trace id is 32 lowercase hex digits, got ''"),
        ("/api/v1/timeseries?run=nope", 404, "no requests of the run 'nope' in the span store"),
    ],
)
def test_bad_reads(base: str, path: str, status: int, message: str) -> None:
    response = httpx.get(base + path, headers=TOKEN)
    assert (response.status_code, response.json()) == (status, {"message": message})


def test_timeseries_per_step(base: str) -> None:
    response = httpx.get(f"{base}/api/v1/timeseries?run=run-a", headers=TOKEN)
    assert response.status_code == 200
    # 2.1 s of run: 0.1 s steps; requests by end time (0.4 s and 2.1 s), the 503 is an error.
    assert response.json() == {
        "run_id": "run-a",
        "first_ns": T0,
        "step_s": 0.1,
        "requests": [[0.4, 1, 0, 400.0, 400.0], [2.1, 1, 1, 600.0, 600.0]],
        "stages": {"llm_call": [[0.2, 1, 200.0], [2.0, 1, 580.0]], "tool": [[0.3, 1, 160.0]]},
    }
    latest = httpx.get(f"{base}/api/v1/timeseries", headers=TOKEN).json()
    assert latest["run_id"] == "run-a"  # the run whose last span ended last


def test_live_is_the_report_and_the_series(base: str) -> None:
    # /live reads what is loaded (at most --load-interval behind); /report first loads every acknowledged span.
    report = httpx.get(f"{base}/api/v1/report?run=run-a", headers=TOKEN).json()
    series = httpx.get(f"{base}/api/v1/timeseries?run=run-a", headers=TOKEN).json()
    live = httpx.get(f"{base}/api/v1/live?run=run-a", headers=TOKEN).json()
    assert sorted(live) == ["age_s", "cost_s", "next_in_s", "report", "series"]
    assert live["series"] == series
    assert {k: v for k, v in live["report"].items() if k != "generated_at"} == {
        k: v for k, v in report.items() if k != "generated_at"
    }
    assert (live["report"]["run_id"], live["report"]["requests"], live["age_s"]) == ("run-a", 2, 0.0)
    latest = httpx.get(f"{base}/api/v1/live", headers=TOKEN).json()
    assert latest["series"]["run_id"] == latest["report"]["run_id"] == "run-a"
    missing = httpx.get(f"{base}/api/v1/live?run=nope", headers=TOKEN)
    assert (missing.status_code, missing.json()) == (
        404,
        {"message": "no requests of the run 'nope' in the span store"},
    )


def test_page_files_need_no_token_and_data_does(base: str) -> None:
    page = httpx.get(f"{base}/ui/")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script src="app.js" defer></script>' in page.text
    assert page.headers["cache-control"] == "no-cache"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css"), ("plotly.min.js", "text/javascript")):
        response = httpx.get(f"{base}/ui/{name}")
        assert (response.status_code, response.headers["content-type"]) == (200, f"{kind}; charset=utf-8")
    assert httpx.head(f"{base}/ui/app.js").content == b""
    redirect = httpx.get(f"{base}/ui")
    assert (redirect.status_code, redirect.headers["location"]) == (308, "/ui/")
    assert httpx.get(f"{base}/ui/nothing").status_code == 404
    posted = httpx.post(f"{base}/ui/", content=b"x")
    assert (posted.status_code, posted.headers["allow"]) == (405, "GET, HEAD")
    for path in (f"/api/v1/traces/{1:032x}", "/api/v1/timeseries", "/api/v1/live"):
        denied = httpx.get(base + path)
        assert (denied.status_code, denied.json()) == (401, {"message": "missing or wrong bearer token"})


def test_no_ui(tmp_path: Path) -> None:
    collector = Collector(CollectorConfig(db=tmp_path / "spans.duckdb", http="127.0.0.1:0", grpc=None, ui=False))
    collector.start()
    try:
        assert httpx.get(f"{collector.api_url}/ui/").status_code == 404
        assert httpx.get(f"{collector.api_url}/api/v1/runs").status_code == 200
    finally:
        collector.stop()
