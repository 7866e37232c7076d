"""The real k6 binary against a real uvicorn app with AgentTraceMiddleware, through agenttrace.js.

Each run is bounded (2 VUs x 10 iterations, per VU). The summary JSON is asserted exactly, the thresholds on
agenttrace_stage_* are evaluated by k6 (a failing one exits 99), and the server saw every request joined to
the run: its own traceparent, and baggage with the run id, scenario and VU.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import agenttrace
from agenttrace._asgi.middleware import AgentTraceMiddleware
from agenttrace.k6 import MODULE_PATH
from agenttrace.testing import Capture
from examples.serving import serve
from tests.conftest import SpanWaiter
from tests.k6.k6run import require_k6, run_k6, script_dir

pytestmark = pytest.mark.slow
VUS, PER_VU = 2, 10
REQUESTS = VUS * PER_VU
INPUT, OUTPUT = 100, 7
DUR = "<ms>"

SCRIPT = """
import { AgentTrace, agenttraceSummary } from './agenttrace.js';
import exec from 'k6/execution';
import { check } from 'k6';

const at = new AgentTrace({ stages: ['context_load', 'llm_call', 'tool_call'] });
export const options = {
  scenarios: { tickets: { executor: 'per-vu-iterations', vus: %(vus)d, iterations: %(per_vu)d } },
  summaryTrendStats: ['p(50)', 'p(95)', 'p(99)', 'count'],
  thresholds: JSON.parse(__ENV.THRESHOLDS),
};
export function setup() { return at.setup(); }
export default function (data) {
  const url = `${__ENV.BASE_URL}/agent/${exec.scenario.iterationInTest}`;
  const res = at.use(data).post(url, null, { tags: { name: 'agent' } });
  check(res, { 'status is 200': (r) => r.status === 200, 'answered': (r) => r.json('answer') === 'ok' });
}
export function handleSummary(data) {
  return Object.assign(agenttraceSummary(data, { json: 'summary.json' }), { 'k6.json': JSON.stringify(data.metrics) });
}
""" % {"vus": VUS, "per_vu": PER_VU}  # noqa: UP031 (the script's own braces)


def llm_calls(i: int) -> int:
    return 1 + i % 3  # 1, 2 or 3 LLM calls: 39 over iterations 0..19


class Recorder:
    """The app's view: request headers as received, Server-Timing as sent."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.server_timing: list[str] = []


def build_app(recorder: Recorder) -> Any:
    @agenttrace.stage("context_load")
    async def context_load() -> None:
        await asyncio.sleep(0.001)

    @agenttrace.stage("llm_call", model="m")
    async def llm() -> None:
        agenttrace.record_usage(input_tokens=INPUT, output_tokens=OUTPUT)
        await asyncio.sleep(0.001)

    @agenttrace.stage("tool_call", tool="search")
    async def tool() -> None:
        await asyncio.sleep(0)

    @agenttrace.stage("retrieval")  # not declared in the script: lands in agenttrace_stage{stage:retrieval}
    async def retrieval() -> None:
        await asyncio.sleep(0)

    async def agent(request: Request) -> JSONResponse:
        recorder.requests.append({k: request.headers.get(k, "") for k in ("traceparent", "baggage")})
        await context_load()
        for _ in range(llm_calls(int(request.path_params["i"]))):
            await llm()
        await tool()
        await retrieval()
        return JSONResponse({"answer": "ok"})

    inner = Starlette(
        routes=[Route("/agent/{i:int}", agent, methods=["POST"])], middleware=[Middleware(AgentTraceMiddleware)]
    )

    async def app(scope: Any, receive: Any, send: Any) -> None:
        async def record(message: Any) -> None:
            if message["type"] == "http.response.start":
                recorder.server_timing += [v.decode() for k, v in message["headers"] if k == b"server-timing"]
            await send(message)

        await inner(scope, receive, record)

    return app


def k6_tickets(tmp_path: Path, recorder: Recorder, thresholds: dict[str, list[str]]) -> tuple[int, str, str]:
    require_k6()
    directory = script_dir(tmp_path, SCRIPT)
    with serve(build_app(recorder)) as base_url:
        done = run_k6(directory, BASE_URL=base_url, THRESHOLDS=json.dumps(thresholds))
    return done.returncode, done.stdout, done.stderr


def stage(name: str, count: int | None, requests: int = REQUESTS) -> dict[str, Any]:
    per = None if count is None else count / REQUESTS
    return {"stage": name, "count": count, "requests": requests, "calls_per_request": per} | dict.fromkeys(
        ("p50_ms", "p95_ms", "p99_ms"), DUR
    )


def normalised(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary with each percentile triple checked (0 <= p50 <= p95 <= p99) and replaced by ``<ms>``."""
    for row in [*summary["stages"], summary["total"]]:
        p50, p95, p99 = row["p50_ms"], row["p95_ms"], row["p99_ms"]
        assert 0 <= p50 <= p95 <= p99, row
        row.update(p50_ms=DUR, p95_ms=DUR, p99_ms=DUR)
    return summary


def middleware_counts(server_timing: list[str]) -> dict[str, int | None]:
    """The per-run counts the middleware itself put in Server-Timing (``None`` while it does not send them)."""
    out: dict[str, int | None] = {}
    for name in ("llm_calls", "tool_calls", "input_tokens", "output_tokens"):
        found = [int(m) for v in server_timing for m in re.findall(rf'(?:^|, ){name};desc="(\d+)"', v)]
        out[name] = sum(found) if found else None
    return out


def per_request_line(counts: dict[str, int | None]) -> str:
    return ", ".join(
        f"{name.replace('_', ' ', 1)}/req {'-' if n is None else format(n / REQUESTS, '.2f')}"
        for name, n in counts.items()
    )


def test_summary_counts_thresholds_and_propagation(
    tmp_path: Path, agenttrace_capture: Capture, ended_spans: SpanWaiter
) -> None:
    recorder = Recorder()
    thresholds = {
        "agenttrace_stage_llm_call": ["p(95)<60000"],
        "agenttrace_stage{stage:retrieval}": ["p(95)<60000"],
        "agenttrace_calls{stage:retrieval}": ["count==20"],
        "http_req_failed": ["rate==0"],
        "checks": ["rate==1"],
    }
    code, stdout, stderr = k6_tickets(tmp_path, recorder, thresholds)
    spans = ended_spans.wait_for_kind("SERVER", REQUESTS)
    assert code == 0, stderr

    [run_id] = re.findall(r'msg="agenttrace run id: (\S+)"', stderr)
    assert re.fullmatch(r"k6-\d{8}-\d{6}-[0-9a-f]{6}", run_id)
    llms = sum(llm_calls(i) for i in range(REQUESTS))
    assert llms == 39
    summary = json.loads((tmp_path / "summary.json").read_text())
    counts = middleware_counts(recorder.server_timing)
    assert normalised(summary) == {
        "run_id": run_id,
        "requests": REQUESTS,
        "http_reqs": REQUESTS,
        "stages": [
            stage("context_load", REQUESTS),
            stage("llm_call", llms),
            stage("tool_call", REQUESTS),
            stage("retrieval", REQUESTS),
            stage("(undeclared)", REQUESTS),
        ],
        "total": {"p50_ms": DUR, "p95_ms": DUR, "p99_ms": DUR},
        **{name: n for name, n in counts.items()},
        **{f"{name}_per_request": None if n is None else n / REQUESTS for name, n in counts.items()},
    }
    if counts["llm_calls"] is not None:  # the middleware sends the per-request counts: they are exact
        assert counts == {
            "llm_calls": llms,
            "tool_calls": REQUESTS,
            "input_tokens": INPUT * llms,
            "output_tokens": OUTPUT * llms,
        }

    metrics = json.loads((tmp_path / "k6.json").read_text())
    assert metrics["http_reqs"]["values"]["count"] == REQUESTS  # agenttrace.js adds no request
    assert metrics["http_req_failed"]["values"]["rate"] == 0
    assert metrics["checks"]["values"]["passes"] == 2 * REQUESTS
    assert {name: metrics[name]["thresholds"] for name in thresholds} == {
        name: {t: {"ok": True} for t in ts} for name, ts in thresholds.items()
    }
    assert metrics["agenttrace_stage_llm_call"]["contains"] == "time"
    assert re.sub(r"(  +\d+\.\d){3}$", "  <ms>", stdout, flags=re.M) == (
        f"\nagenttrace run {run_id}: 20 requests with Server-Timing, 20 http_reqs\n"
        "stage           calls  calls/req  p50 ms  p95 ms  p99 ms\n"
        "context_load       20       1.00  <ms>\n"
        "llm_call           39       1.95  <ms>\n"
        "tool_call          20       1.00  <ms>\n"
        "retrieval          20       1.00  <ms>\n"
        "(undeclared)       20       1.00  <ms>\n"
        "total (server)     20          -  <ms>\n"
        f"{per_request_line(counts)}\n\n"
    )

    # The server saw each request joined to the run: a new trace each, baggage with run id, scenario and VU.
    assert len(recorder.requests) == REQUESTS
    traceparents = [r["traceparent"] for r in recorder.requests]
    assert all(re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", t) for t in traceparents)
    assert len({t[3:35] for t in traceparents}) == REQUESTS
    baggage = sorted(r["baggage"] for r in recorder.requests)
    assert baggage == sorted(
        f"agenttrace.run_id={run_id},agenttrace.scenario=tickets,agenttrace.user=vu-{vu}"
        for vu in range(1, VUS + 1)
        for _ in range(PER_VU)
    )
    servers = [s for s in spans if s.kind.name == "SERVER"]
    joined = sorted(
        (f"00-{s.context.trace_id:032x}-{s.parent.span_id:016x}-01", s.attributes["agenttrace.user"])  # type: ignore[union-attr,index]
        for s in servers
    )
    assert joined == sorted(
        (r["traceparent"], re.findall(r"agenttrace.user=(\S+)", r["baggage"])[0]) for r in recorder.requests
    )
    assert {(s.attributes or {}).get("agenttrace.run_id") for s in servers} == {run_id}
    assert {(s.attributes or {}).get("agenttrace.scenario") for s in servers} == {"tickets"}


def test_a_failing_stage_threshold_fails_the_run(tmp_path: Path, agenttrace_capture: Capture) -> None:
    thresholds = {
        "agenttrace_stage_llm_call": ["p(95)<0.01"],  # each LLM stage sleeps 1 ms: cannot hold
        "agenttrace_stage_context_load": ["p(95)<60000"],
        "agenttrace_stage{stage:retrieval}": ["max<0"],
    }
    code, _stdout, stderr = k6_tickets(tmp_path, Recorder(), thresholds)
    assert code == 99, stderr
    assert re.search(r"thresholds on metrics '.*agenttrace_stage_llm_call.*' have been crossed", stderr), stderr
    metrics = json.loads((tmp_path / "k6.json").read_text())
    assert {name: metrics[name]["thresholds"] for name in thresholds} == {
        "agenttrace_stage_llm_call": {"p(95)<0.01": {"ok": False}},
        "agenttrace_stage_context_load": {"p(95)<60000": {"ok": True}},
        "agenttrace_stage{stage:retrieval}": {"max<0": {"ok": False}},
    }
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [(s["stage"], s["count"]) for s in summary["stages"]] == [
        ("context_load", REQUESTS),
        ("llm_call", 39),
        ("tool_call", REQUESTS),
        ("retrieval", None),  # no threshold names agenttrace_calls{stage:retrieval}: its calls are unknown
        ("(undeclared)", REQUESTS),
    ]
    assert MODULE_PATH.read_bytes() == (tmp_path / "agenttrace.js").read_bytes()
