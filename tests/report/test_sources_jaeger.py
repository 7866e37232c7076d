"""Jaeger v2's /api/v3/traces, served by a fake Jaeger on 127.0.0.1 from recorded-shape answers.

The fake answers like Jaeger: the recorded traces whose first span starts in the window (and that carry the asked
``query.attributes``), most recent first, at most ``query.searchDepth`` of them, 404 when none; it records every
query it gets so the tests can assert the parameters.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agenttrace._cli import main
from agenttrace.report.slo import Slo
from agenttrace.report.sources import JaegerQuery, SourceError, load_jaeger, source_report
from agenttrace.report.sources.jaeger import rfc3339
from examples.serving import serve
from tests.report.conftest import MS, RUN_A, T0
from tests.report.source_spans import FIXTURES, JAEGER_RUN_A, jaeger_find_traces
from tests.report.test_sources_otlp_json import SLOS, comparable, store_json

RUN_A_TRACES: list[dict[str, Any]] = json.loads(JAEGER_RUN_A.read_text(encoding="utf-8"))["result"]["resourceSpans"]
WINDOW = (T0 - 10_000 * MS, T0 + 10_000 * MS)


def _ns(text: str) -> int:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00")[:26] + "+00:00")
    return int(moment.timestamp()) * 10**9 + int(text[20:29])


def _attributes(trace: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (a["key"], a["value"].get("stringValue"))
        for scope in trace["scopeSpans"]
        for span in scope["spans"]
        for a in span.get("attributes", [])
    ]


class FakeJaeger:
    def __init__(self, traces: list[dict[str, Any]], status: int = 200) -> None:
        self.traces = traces
        self.status = status
        self.queries: list[dict[str, str]] = []

    def start(self, trace: dict[str, Any]) -> int:
        return min(int(s["startTimeUnixNano"]) for scope in trace["scopeSpans"] for s in scope["spans"])

    async def find(self, request: Request) -> Response:
        query = dict(request.query_params)
        self.queries.append(query)
        if self.status != 200:
            error = {"error": {"httpCode": self.status, "message": "storage unavailable"}}
            return JSONResponse(error, status_code=self.status)
        low, high = _ns(query["query.startTimeMin"]), _ns(query["query.startTimeMax"])
        wanted = list(json.loads(query.get("query.attributes", "{}")).items())
        found = [
            t for t in self.traces if low <= self.start(t) <= high and all(item in _attributes(t) for item in wanted)
        ]
        found.sort(key=self.start, reverse=True)
        found = found[: int(query["query.searchDepth"])]
        if not found:
            error = {"error": {"httpCode": 404, "message": "trace not found"}}
            return JSONResponse(error, status_code=404)
        return JSONResponse({"result": {"resourceSpans": found}})


@pytest.fixture
def jaeger() -> Iterator[tuple[str, FakeJaeger]]:
    fake = FakeJaeger(RUN_A_TRACES)
    with serve(Starlette(routes=[Route("/api/v3/traces", fake.find)])) as url:
        yield url, fake


def test_recorded_fixture_matches_run_a() -> None:
    assert json.loads(JAEGER_RUN_A.read_text(encoding="utf-8")) == jaeger_find_traces(RUN_A)


def test_same_report_as_the_store(run_a_db: Path, jaeger: tuple[str, FakeJaeger]) -> None:
    url, fake = jaeger
    loaded = load_jaeger(JaegerQuery(url, "agent", *WINDOW, run_id="run-a"))
    assert loaded.source == f"{url} (agent)"
    report = source_report(loaded, "run-a", slos=[Slo.parse(s) for s in SLOS])
    assert comparable(report) == store_json(run_a_db, "run-a")
    assert fake.queries == [
        {
            "query.serviceName": "agent",
            "query.startTimeMin": rfc3339(WINDOW[0]),
            "query.startTimeMax": rfc3339(WINDOW[1]),
            "query.searchDepth": "1000",
            "query.attributes": '{"agenttrace.run_id":"run-a"}',
        }
    ]
    assert rfc3339(WINDOW[0]) == "2023-11-14T22:13:10.000000000Z"


def test_a_full_search_is_split_until_no_answer_is_full(run_a_db: Path, jaeger: tuple[str, FakeJaeger]) -> None:
    url, fake = jaeger
    # Depth 2: run-a's four traces start at 0 (and -10 ms), 500, 1000 and 3000 ms; run-b's at -5000 ms.
    loaded = load_jaeger(JaegerQuery(url, "agent", *WINDOW, search_depth=2))
    assert loaded.spans == len(RUN_A)
    assert comparable(source_report(loaded, None, slos=[Slo.parse(s) for s in SLOS])) == store_json(run_a_db)
    windows = [(_ns(q["query.startTimeMin"]) - T0, _ns(q["query.startTimeMax"]) - T0) for q in fake.queries]
    s = 10**9
    # Depth-first, earlier half first; the halves share their boundary, so run-b (at -5 s) comes back twice.
    assert windows == [
        (-10 * s, 10 * s),  # full
        (-10 * s, 0),  # run-b, trace 1 (its CLIENT span starts at -10 ms): full
        (-10 * s, -5 * s),  # run-b
        (-5 * s, 0),  # run-b, trace 1: full
        (-5 * s, -5 * s // 2),  # run-b
        (-5 * s // 2, 0),  # trace 1
        (0, 10 * s),  # the two latest of traces 2, 3, 4: full
        (0, 5 * s),  # full
        (0, 5 * s // 2),  # traces 2 and 3: full
        (0, 5 * s // 4),  # full
        (0, 5 * s // 8),  # trace 2
        (5 * s // 8, 5 * s // 4),  # trace 3
        (5 * s // 4, 5 * s // 2),  # none: 404
        (5 * s // 2, 5 * s),  # trace 4
        (5 * s, 10 * s),  # none: 404
    ]
    assert all("query.attributes" not in q for q in fake.queries)


def test_nothing_found_is_404(jaeger: tuple[str, FakeJaeger]) -> None:
    url, fake = jaeger
    loaded = load_jaeger(JaegerQuery(url, "agent", T0 + 20_000 * MS, T0 + 30_000 * MS))
    assert (loaded.spans, len(fake.queries)) == (0, 1)


def test_bounded_searches(jaeger: tuple[str, FakeJaeger]) -> None:
    url, _ = jaeger
    with pytest.raises(SourceError) as error:
        load_jaeger(JaegerQuery(url, "agent", *WINDOW, search_depth=1, max_searches=3))
    assert str(error.value) == "more than 3 Jaeger searches needed: narrow the window (--since/--until)"
    # Two traces starting within the same millisecond can never fit one search of depth 1.
    with pytest.raises(SourceError) as error:
        load_jaeger(JaegerQuery(url, "agent", T0 - 10 * MS, T0 + 1, search_depth=1))
    assert "traces start within" in str(error.value)


def test_jaeger_errors(jaeger: tuple[str, FakeJaeger]) -> None:
    url, fake = jaeger
    fake.status = 500
    with pytest.raises(SourceError) as error:
        load_jaeger(JaegerQuery(url, "agent", *WINDOW))
    assert str(error.value) == f"Jaeger at {url} answered 500: storage unavailable"
    with pytest.raises(SourceError) as error:
        load_jaeger(JaegerQuery(url, "agent", WINDOW[1], WINDOW[0]))
    assert str(error.value) == "the time window is empty: its end is not after its start"


def test_unreachable() -> None:
    with serve(Starlette()) as url:
        pass  # the port is free again
    with pytest.raises(SourceError) as error:
        load_jaeger(JaegerQuery(url, "agent", *WINDOW))
    assert str(error.value).startswith(f"cannot reach Jaeger at {url}: ")


def test_upstream_snapshot_span_is_left_out(tmp_path: Path) -> None:
    # Jaeger's own FindTraces snapshot: its span's times are past int64 nanoseconds, so it cannot be stored.
    body = json.loads((FIXTURES / "jaeger-apiv3" / "FindTraces.json").read_text(encoding="utf-8"))
    fake = FakeJaeger(body["result"]["resourceSpans"])
    fake.start = lambda trace: WINDOW[0]  # type: ignore[method-assign]
    with serve(Starlette(routes=[Route("/api/v3/traces", fake.find)])) as url:
        loaded = load_jaeger(JaegerQuery(url, "foobar", *WINDOW))
    assert (loaded.spans, loaded.rejected, loaded.reasons) == (0, 1, ["timestamp out of range"])


def test_cli(run_a_db: Path, jaeger: tuple[str, FakeJaeger], capsys: pytest.CaptureFixture[str]) -> None:
    url, fake = jaeger
    since, until = "2023-11-14T22:13:10Z", "2023-11-14T22:13:30Z"
    args = ["report", "--jaeger", url, "--service", "agent", "--since", since, "--until", until, "--format", "json"]
    assert main([*args, "--run", "run-a", *(a for s in SLOS for a in ("--slo", s))]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in data.items() if k not in ("generated_at", "source")} == store_json(run_a_db, "run-a")
    assert (fake.queries[0]["query.startTimeMin"], fake.queries[0]["query.startTimeMax"]) == (
        "2023-11-14T22:13:10.000000000Z",
        "2023-11-14T22:13:30.000000000Z",
    )
    assert main(["report", "--jaeger", url]) == 1
    assert (
        capsys.readouterr().err
        == "agenttrace: error: --jaeger needs --service NAME: Jaeger searches one service's traces\n"
    )
    assert main(["report", "--jaeger", url, "--service", "agent", "--since", "yesterday"]) == 1
    assert capsys.readouterr().err == (
        "agenttrace: error: --since 'yesterday': expected RFC 3339 (2025-05-01T10:00:00Z) or a time ago (90m, 2h, 1d)\n"
    )
