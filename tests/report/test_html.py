"""The HTML report: one self-contained page with the four plots (their data checked) and escaped span strings."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from plotly.offline import get_plotlyjs

from agenttrace.report.build import build_report
from agenttrace.report.model import Report
from agenttrace.report.render_html import render_html
from tests.report.synthetic import RUN_ID, Call, SyntheticRun, sequential

HOSTILE = "<script>alert(1)</script>"
TITLES = {
    "agenttrace-stage-latency-over-time": "Stage latency over time (p95 of calls started in each bucket)",
    "agenttrace-critical-path-share": "Critical-path share by stage (whole run, then by concurrency)",
    "agenttrace-stage-latency-vs-concurrency": "Stage latency vs concurrency (p95 time per request in the stage)",
    "agenttrace-load-over-time": "Requests/s and in-flight over time",
}


def figure(page: str, div_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The data and layout passed to ``Plotly.newPlot`` for ``div_id``, as parsed JSON."""
    match = re.search(r'Plotly\.newPlot\(\s*"' + re.escape(div_id) + r'",\s*', page)
    assert match is not None, div_id
    decoder = json.JSONDecoder()
    data, end = decoder.raw_decode(page, match.end())
    layout, _ = decoder.raw_decode(page, re.compile(r",\s*").match(page, end).end())  # type: ignore[union-attr]
    return data, layout


def traces(data: list[dict[str, Any]]) -> dict[str, tuple[Any, Any]]:
    return {trace["name"]: (trace["x"], trace["y"]) for trace in data}


@pytest.fixture
def run_a(run_a_db: Path) -> Iterator[Report]:
    with duckdb.connect(str(run_a_db), read_only=True) as connection:
        yield build_report(connection, "run-a", jaeger_ui="http://jaeger:16686/", source="test")


def test_run_a_plots(run_a: Report) -> None:
    page = render_html(run_a)
    # RUN_A is too small for concurrency bins: no latency-vs-concurrency plot; the others from the hand figures.
    assert [div for div in TITLES if f'<div id="{div}"' in page] == [
        "agenttrace-stage-latency-over-time",
        "agenttrace-critical-path-share",
        "agenttrace-load-over-time",
    ]
    t = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    data, layout = figure(page, "agenttrace-stage-latency-over-time")
    assert layout["title"]["text"] == TITLES["agenttrace-stage-latency-over-time"]
    assert traces(data) == {
        "agent": (t, [1900.0, None, None, None, None, None]),
        "tool": (t, [390.0, 400.0, None, 2000.0, None, None]),
        "llm_call": (t, [930.0, 290.0, None, None, None, None]),
    }
    data, layout = figure(page, "agenttrace-load-over-time")
    assert layout["title"]["text"] == TITLES["agenttrace-load-over-time"]
    assert traces(data) == {
        "requests/s": (t, [2.0, 1.0, 0.0, 1.0, 0.0, 0.0]),
        "errors/s": (t, [0.0, 0.0, 0.0, 1.0, 0.0, 0.0]),
        "429s/s": (t, [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
        "in flight (mean)": (t, [1.5, 1.5, 0.5, 1.0, 1.0, 1.0]),
    }
    assert [trace.get("yaxis") for trace in data] == [None, None, None, "y2"]
    data, layout = figure(page, "agenttrace-critical-path-share")
    assert (layout["title"]["text"], layout["barmode"]) == (TITLES["agenttrace-critical-path-share"], "stack")
    shares = {s.stage: s.critical_path_share for s in run_a.stages}
    assert traces(data) == {
        "agent": (["whole run"], [shares["agent"]]),
        "tool": (["whole run"], [shares["tool"]]),
        "llm_call": (["whole run"], [shares["llm_call"]]),
        "(outside stages)": (["whole run"], [pytest.approx(1 - sum(shares.values()))]),  # type: ignore[arg-type]
    }
    # The tables and the verdict.
    assert '<p class="verdict none"><strong>Bottleneck: none</strong>: insufficient data: 4 requests' in page
    assert "<li>Run run-a: 4 requests in 6 s (0.67/s)</li>" in page
    assert "<h2>Stages</h2>" in page and "<h2>Scenarios</h2>" in page and "<h2>Per request</h2>" in page
    trace = "00000000000000000000000000000004"
    assert f'<td class="l"><a href="http://jaeger:16686/trace/{trace}">{trace}</a></td>' in page


def test_self_contained_and_deterministic(run_a: Report) -> None:
    page = render_html(run_a)
    assert page == render_html(run_a)
    plotly_js = get_plotlyjs()
    assert page.count(plotly_js) == 1
    rest = page.replace(plotly_js, "")
    assert "<script src" not in rest.lower() and "<link" not in rest.lower() and "@import" not in rest
    assert "<script>" in rest  # the figures are drawn by inline scripts
    # The only URLs outside plotly.js are the Jaeger links of the slowest and failed requests.
    urls = re.findall(r"https?://[^\"'<> ]+", rest)
    links = {ref.url for ref in [*run_a.slowest, *run_a.failed]}
    assert urls and set(urls) == links and len(urls) == len(run_a.slowest) + len(run_a.failed)
    assert re.findall(r"\d{4}-\d\d-\d\dT[\d:]+", rest) == [run_a.generated_at[:19]]


def hostile(concurrency: int, index: int) -> list[Call]:
    # A stage behind a pool sized for 4 (its time grows with the load), named like an injection.
    return sequential((HOSTILE, 20 * concurrency / 4), ("llm_call", 1000), ("tool_call", 200))


@pytest.fixture(scope="module")
def saturated() -> Report:
    run = SyntheticRun()
    for concurrency, repeats in [(4, 5), (8, 3), (16, 2), (32, 1), (96, 1)]:
        run.phase(concurrency, repeats, hostile)
    connection = run.source().connection
    try:
        return build_report(connection, RUN_ID, jaeger_ui="javascript:alert(1)//")
    finally:
        connection.close()


def test_saturated_run_four_plots(saturated: Report) -> None:
    page = render_html(saturated)
    for div, title in TITLES.items():
        assert figure(page, div)[1]["title"]["text"] == title
    assert saturated.saturation is not None
    bins = saturated.saturation.to_json()["bins"]
    assert len(bins) >= 2
    escaped = html.escape(HOSTILE)
    data, layout = figure(page, "agenttrace-stage-latency-vs-concurrency")
    assert layout["yaxis"]["type"] == "log"
    x = [b["concurrency"] for b in bins]
    assert traces(data) == {
        html.escape(stage): (x, [next(s["p95_ms"] for s in b["stages"] if s["stage"] == stage) for b in bins])
        for stage in (HOSTILE, "llm_call", "tool_call")
    }
    data, _ = figure(page, "agenttrace-critical-path-share")
    labels = ["whole run"] + [str(b["low"]) if b["low"] == b["high"] else f"{b['low']}-{b['high']}" for b in bins]
    shares = [next(s.critical_path_share for s in saturated.stages if s.stage == HOSTILE)] + [
        next(s["critical_path_share"] for s in b["stages"] if s["stage"] == HOSTILE) for b in bins
    ]
    assert traces(data)[escaped] == (labels, shares)
    # The verdict names the stage, escaped.
    assert saturated.bottleneck.stage == HOSTILE
    assert f'<p class="verdict"><strong>Bottleneck: stage</strong> <strong>{escaped}</strong>: {escaped}: p95' in page


def test_hostile_strings_escaped(saturated: Report) -> None:
    page = render_html(saturated)
    rest = page.replace(get_plotlyjs(), "")
    assert HOSTILE not in rest and "alert(1)</script>" not in rest
    assert f'<td class="l">{html.escape(HOSTILE)}</td>' in rest
    # A Jaeger URL that is not http(s) is shown as text, never linked.
    first = saturated.slowest[0].trace_id
    assert f'<td class="l">javascript:alert(1)/trace/{first}</td>' in rest and "<a " not in rest
