"""agenttrace.js reading Server-Timing in the real k6: the parser (table-driven) and the counters, exactly.

The raw app sets Server-Timing by hand, in two header lines with the quirks the grammar allows (unquoted and
quoted desc, whitespace, upper-case parameter names, unknown parameters, a comma inside a quoted desc), plus
the per-request counts (llm_calls, tool_calls, input_tokens, output_tokens) of the telemetry contract.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from examples.serving import serve
from tests.k6.k6run import require_k6, run_k6, script_dir

pytestmark = pytest.mark.slow

PARSE_SCRIPT = """
import { parseServerTiming, metricSuffix } from './agenttrace.js';
const cases = JSON.parse(open('./cases.json'));
export const options = { iterations: 1 };
export default function () {}
export function handleSummary() {
  const parsed = cases.map((c) => parseServerTiming(c).map((e) => [e.name, e.dur ?? null, e.desc ?? null]));
  const params = parseServerTiming(' a ; DUR = 4 ; Desc = "2";foo=bar;flag;dur=9')[0].params;
  return { 'parsed.json': JSON.stringify({ parsed, params, suffix: metricSuffix('llm.call/openai-4') }) };
}
"""
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
CASES: list[tuple[str, list[tuple[str, float | None, str | None]]]] = [
    ("", []),
    (f'llm_call;dur=812.4;desc="3", total;dur=903.2, trace;desc="{TRACE}"',
     [("llm_call", 812.4, "3"), ("total", 903.2, None), ("trace", None, TRACE)]),
    ("a;desc=3;dur=1", [("a", 1, "3")]),  # unquoted desc, any order
    (' a ; DUR = 4 ; Desc = "2" ', [("a", 4, "2")]),  # whitespace, parameter names in any case
    ('cdn;desc="hit, miss; x";dur=2, b;dur=1', [("cdn", 2, "hit, miss; x"), ("b", 1, None)]),
    (r'a;desc="say \"hi\""', [("a", None, 'say "hi"')]),
    ("a;dur=1;dur=2", [("a", 1, None)]),  # a repeated parameter keeps its first value
    ("a;dur=1;foo=bar;flag", [("a", 1, None)]),
    ("a;dur=abc, b;dur=, c;dur=-1.5e1", [("a", None, None), ("b", None, None), ("c", -15, None)]),
    ("a;dur=1,, ,b;dur=2", [("a", 1, None), ("b", 2, None)]),
    ('llm_calls;desc="2", input_tokens;desc=120', [("llm_calls", None, "2"), ("input_tokens", None, "120")]),
]  # fmt: skip


def test_parse_server_timing(tmp_path: Path) -> None:
    require_k6()
    directory = script_dir(tmp_path, PARSE_SCRIPT)
    (directory / "cases.json").write_text(json.dumps([value for value, _ in CASES]))
    done = run_k6(directory)
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "parsed.json").read_text())
    assert result["suffix"] == "llm_call_openai_4"
    assert result["params"] == {"dur": "4", "desc": "2", "foo": "bar", "flag": ""}
    for (value, expected), parsed in zip(CASES, result["parsed"], strict=True):
        assert [tuple(entry) for entry in parsed] == expected, value


RAW_HEADERS = [
    (b"server-timing", b'context_load;dur=2.5;desc="1", llm_call;dur=10;desc=2, cdn;desc="hit, miss"'),
    (b"server-timing", b' retrieval ; DUR = 4 ; desc = "3";x=y , llm_calls;desc="2", tool_calls;desc=1'),
    (b"server-timing", b'input_tokens;desc="120", output_tokens;desc="30", total;dur=15, trace;desc="00-ab-cd-01"'),
]

RAW_SCRIPT = """
import { AgentTrace, agenttraceSummary } from './agenttrace.js';
import http from 'k6/http';
const at = new AgentTrace({ stages: ['context_load', 'llm_call'] });
export const options = {
  scenarios: { raw: { executor: 'per-vu-iterations', vus: 2, iterations: 5 } },
  summaryTrendStats: ['p(50)', 'p(95)', 'p(99)', 'count'],
  thresholds: { 'agenttrace_calls{stage:retrieval}': ['count==30'], 'agenttrace_stage{stage:retrieval}': [] },
};
export default function () {
  const own = {
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    baggage: 'tenant=acme,agenttrace.scenario=mine',
  };
  at.get(`${__ENV.BASE_URL}/agent`, { headers: __VU === 1 ? own : {} });
  http.get(`${__ENV.BASE_URL}/plain`);  // no Server-Timing: counted by k6 only
}
export function handleSummary(data) {
  return Object.assign(agenttraceSummary(data, { json: 'summary.json', text: 'summary.txt', stdout: false }), {
    'k6.json': JSON.stringify(data.metrics),
  });
}
"""


def raw_app(seen: list[dict[str, str]]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = dict(scope["headers"])
        timing = RAW_HEADERS if scope["path"] == "/agent" else []
        if timing:
            seen.append({k: headers.get(k.encode(), b"").decode() for k in ("traceparent", "baggage")})
        await send({"type": "http.response.start", "status": 200, "headers": [*timing, (b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


@pytest.mark.parametrize(
    ("env", "args"),
    [({"AGENTTRACE_RUN_ID": "run-raw"}, []), ({}, ["--tag", "run_id=run-raw"])],
    ids=["env", "tag"],
)
def test_counters_from_raw_server_timing(tmp_path: Path, env: dict[str, str], args: list[str]) -> None:
    require_k6()
    directory = script_dir(tmp_path, RAW_SCRIPT)
    seen: list[dict[str, str]] = []
    with serve(raw_app(seen)) as base_url:
        done = run_k6(directory, *args, BASE_URL=base_url, **env)
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    assert "level=warning" not in done.stderr  # the run id came from $AGENTTRACE_RUN_ID / --tag run_id

    summary = json.loads((tmp_path / "summary.json").read_text())
    for row in [*summary["stages"], summary["total"]]:
        assert row.pop("p50_ms") == row.pop("p95_ms") == row.pop("p99_ms")  # every response said the same
    assert summary == {
        "run_id": "run-raw",
        "requests": 10,
        "http_reqs": 20,
        "stages": [
            {"stage": "context_load", "count": 10, "requests": 10, "calls_per_request": 1},
            {"stage": "llm_call", "count": 20, "requests": 10, "calls_per_request": 2},
            {"stage": "retrieval", "count": 30, "requests": 10, "calls_per_request": 3},
            {"stage": "(undeclared)", "count": 30, "requests": 10, "calls_per_request": 3},
        ],
        "total": {},
        "llm_calls": 20,
        "llm_calls_per_request": 2,
        "tool_calls": 10,
        "tool_calls_per_request": 1,
        "input_tokens": 1200,
        "input_tokens_per_request": 120,
        "output_tokens": 300,
        "output_tokens_per_request": 30,
    }
    metrics = json.loads((tmp_path / "k6.json").read_text())
    assert metrics["agenttrace_stage_llm_call"]["values"]["p(95)"] == 10
    assert metrics["agenttrace_stage{stage:retrieval}"]["values"]["p(95)"] == 4
    assert metrics["agenttrace_total"]["values"]["p(95)"] == 15
    assert "cdn" not in (tmp_path / "summary.txt").read_text()  # no dur: not a stage

    # VU 1 sent its own traceparent and baggage: kept, with the identity keys it did not set appended.
    mine = "tenant=acme,agenttrace.scenario=mine,agenttrace.run_id=run-raw,agenttrace.user=vu-1"
    theirs = "agenttrace.run_id=run-raw,agenttrace.scenario=raw,agenttrace.user=vu-2"
    assert sorted(s["baggage"] for s in seen) == sorted([mine] * 5 + [theirs] * 5)
    assert [s["traceparent"] for s in seen if s["baggage"] == mine] == [
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    ] * 5


def test_without_a_run_id_each_vu_warns_and_picks_its_own(tmp_path: Path) -> None:
    require_k6()
    directory = script_dir(tmp_path, RAW_SCRIPT)
    seen: list[dict[str, str]] = []
    with serve(raw_app(seen)) as base_url:
        done = run_k6(directory, BASE_URL=base_url)
    assert done.returncode == 0, done.stderr
    warned = re.findall(r'level=warning msg="agenttrace: no run id from AGENTTRACE_RUN_ID, --tag run_id or setup\(\); '
                        r'VU (\d) uses (k6-\d{8}-\d{6}-[0-9a-f]{6})"', done.stderr)  # fmt: skip
    assert sorted(vu for vu, _ in warned) == ["1", "2"]
    ids = {f"vu-{vu}": run_id for vu, run_id in warned}
    assert len(set(ids.values())) == 2
    for request in seen:
        user = re.findall(r"agenttrace.user=(vu-\d)", request["baggage"])[0]
        assert f"agenttrace.run_id={ids[user]}," in request["baggage"]
    assert json.loads((tmp_path / "summary.json").read_text())["run_id"] is None
