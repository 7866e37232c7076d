"""Telemetry must not hurt the load run: the agent service under the same Locust load, collector healthy or not.

Run: ``PYTHONPATH=src:. .venv/bin/python bench/telemetry_faults.py`` (``--rounds`` / ``--users`` / ``--run-time``).

Three variants of where ``OTEL_EXPORTER_OTLP_ENDPOINT`` points, everything else equal:

- ``healthy``: agenttrace's embedded collector (``Collector``, OTLP/HTTP on 127.0.0.1:0, DuckDB in a temp dir);
- ``refusing``: a port that is bound but not listening, so every connection is refused at once;
- ``black hole``: a listening socket that accepts connections and never reads from or answers them.

Per run: ``python -m examples.agent_service`` starts as a subprocess (``agenttrace.configure()`` reading the
``OTEL_*`` variables: default batch span processor settings, default exit budget, ``OTEL_METRICS_EXPORTER=none``;
``AGENT_DB_POOL_SIZE`` = users, so the pool does not cap the span rate and the span queue of the faulty runs
fills within the run), Locust loads it headless (this file is the locustfile: a user opens a session, then sends
simple and tool-calling messages with short waits; the ``agenttrace.locust`` plugin sends trace context and
baggage), then the service gets SIGTERM and its exit warning gives the dropped spans by reason. The service
starts through a small wrapper that adds one more span processor counting every span that ends, so the drop
count is checked against an independent count: ended = exported (stored by the collector; nothing can be
delivered to the faulty endpoints) + dropped. Peak RSS is the service's ``VmHWM`` just before SIGTERM, its
growth the peak minus the highest ``VmRSS`` sampled over the first half of the load; CPU is the service's user +
system time per request; exit seconds run from SIGTERM to the process's exit (split: to the telemetry flush at
lifespan shutdown, the flush, from there to the atexit hooks; the rest is interpreter teardown). The order of
the variants rotates round by round so machine noise hits all alike, and p95 is compared round by round (the
median of the per-round ratios); latency percentiles are exact, over every request of every round of a variant
(Locust's request events).

Targets (faulty runs against the healthy ones): no failed requests; request p95 within +10%; memory bounded
(peak RSS within +10%, and growing over the second half no more than the healthy run's + 4 MB); dropped spans
counted exactly; exit status 0 with the telemetry flush (timed inside the service) within the exit budget +
0.25 s. A benchmark, not a test: it prints PASS/FAIL per target and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

if __name__ != "__main__":  # loaded by Locust as the locustfile
    import agenttrace.locust  # noqa: F401  # traceparent + baggage, as a real load test would send
    from locust import FastHttpUser, between, events, task

    _samples: list[tuple[str, float, str | None]] = []

    @events.request.add_listener
    def _record(name: str, response_time: float, exception: BaseException | None, **_: Any) -> None:
        _samples.append((name, response_time, None if exception is None else str(exception)[:200]))

    @events.quitting.add_listener
    def _write(**_: Any) -> None:
        Path(os.environ["BENCH_SAMPLES"]).write_text(json.dumps(_samples))

    class ChatUser(FastHttpUser):
        """Opens a session, then asks simple (3) and tool-calling (2) questions with short waits."""

        wait_time = between(0.05, 0.25)
        session = ""

        def on_start(self) -> None:
            with self.client.post("/api/sessions", name="/api/sessions", catch_response=True) as response:
                if response.status_code == 200:
                    self.session = response.json()["session_id"]
                else:
                    response.failure(f"status {response.status_code}")

        def send(self, content: str) -> None:
            path = f"/api/sessions/{self.session}/messages"
            name = "/api/sessions/{id}/messages"
            with self.client.post(path, json={"content": content}, name=name, catch_response=True) as response:
                if response.status_code != 200:
                    response.failure(f"status {response.status_code}: {(response.text or '')[:160]}")

        @task(3)
        def simple(self) -> None:
            self.send("What are your opening hours?")

        @task(2)
        def tool(self) -> None:
            self.send("Look up order #12345")


# The service, with one extra span processor counting every span that ends (the independent side of the
# conservation check); the count is printed after agenttrace's own bounded shutdown, which runs first.
WRAPPER = """
import atexit, runpy, sys, threading, time
import agenttrace
from opentelemetry.sdk.trace import SpanProcessor


handle = agenttrace.configure()

class Ended(SpanProcessor):
    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()
    def on_end(self, span):
        if span.context.trace_flags.sampled:
            with self.lock:
                self.count += 1

ended = Ended()
handle.tracer_provider.add_span_processor(ended)

shutdown = handle.shutdown

def timed_shutdown(timeout=None):
    started = time.monotonic()
    shutdown(timeout)
    print(f"bench: telemetry shutdown {started:.3f} {time.monotonic():.3f}", file=sys.stderr, flush=True)

handle.shutdown = timed_shutdown  # the middleware's flush at lifespan shutdown calls it

def report():
    handle.shutdown()
    print(f"bench: spans ended {ended.count} at {time.monotonic():.3f}", file=sys.stderr, flush=True)

atexit.register(report)
sys.argv = ["python -m examples.agent_service", *sys.argv[1:]]
runpy.run_module("examples.agent_service", run_name="__main__", alter_sys=True)
"""

DROPPED = re.compile(
    r"agenttrace: (\d+) spans were dropped before export \((\d+) queue full, (\d+) export failed, "
    r"(\d+) unsent when the ([\d.]+) s exit budget ran out\)"
)
ENDED = re.compile(r"^bench: spans ended (\d+) at ([\d.]+)$", re.M)
SHUTDOWN = re.compile(r"^bench: telemetry shutdown ([\d.]+) ([\d.]+)$", re.M)
VARIANTS = ("healthy", "refusing", "black hole")
EXIT_BUDGET_S = 3.0  # agenttrace's default (AGENTTRACE_EXIT_TIMEOUT unset)
RSS_SLACK_MB = 4.0  # allocator noise between two runs of the same variant


@dataclass
class Run:
    """One variant's run: what Locust saw and what the service reported."""

    variant: str
    round: int
    times: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    peak_rss_mb: float = 0.0
    rss_growth_mb: float = 0.0  # peak RSS minus the highest RSS seen in the first half of the load
    cpu_s: float = 0.0
    dropped: dict[str, int] = field(default_factory=dict)
    ended: int = -1
    exported: int = 0
    exit_s: float = 0.0
    exit_parts: tuple[float, float, float] = (0.0, 0.0, 0.0)  # SIGTERM -> flush, the flush, flush -> atexit
    exit_code: int | None = None
    stderr_tail: str = ""

    @property
    def conserved(self) -> bool:
        return self.ended >= 0 and self.ended == self.exported + sum(self.dropped.values())


class BlackHole:
    """A listening socket that accepts connections and never reads or answers; they stay open until stop()."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        deadline = time.monotonic() + 3600  # bounded even if stop() is never called
        while not self._stop.is_set() and time.monotonic() < deadline and len(self.held) < 10_000:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.held.append(conn)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self.held:
            conn.close()
        self.sock.close()


def _env(endpoint: str, samples: Path | None = None, pool: int = 0) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTTRACE_", "AGENT_", "MODEL_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_METRICS_EXPORTER="none")
    if samples is not None:
        env["BENCH_SAMPLES"] = str(samples)
    if pool:
        env["AGENT_DB_POOL_SIZE"] = str(pool)
    return env


def _read_url(process: subprocess.Popen[str], timeout: float = 60.0) -> str:
    """The agent service's URL from its second stdout line."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        for _ in range(10):
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                break
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith("agent service on "):
                return line.removeprefix("agent service on ").strip()
    raise SystemExit(f"the agent service did not start (exit {process.poll()})")


def _status_mb(pid: int, key: str) -> float:
    """``VmHWM`` (peak RSS) or ``VmRSS`` of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _first_half_rss(pid: int, seconds: float, stop: threading.Event, out: list[float]) -> None:
    """The RSS every 0.25 s over the first ``seconds`` (stops early on ``stop``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not stop.wait(0.25):
        out.append(_status_mb(pid, "VmRSS"))


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _locust(url: str, args: argparse.Namespace, samples: Path, workdir: Path) -> None:
    command = [sys.executable, "-m", "locust", "-f", __file__, "--headless", "--host", url, "--only-summary"]
    command += ["-u", str(args.users), "-r", str(args.users), "--run-time", f"{args.run_time}s", "--stop-timeout", "10"]
    subprocess.run(
        command, env=_env("", samples), cwd=workdir, capture_output=True, text=True, timeout=args.run_time + 120
    )  # exit code 1 means "some requests failed": the samples say which


def run_variant(variant: str, round_: int, args: argparse.Namespace, tmp: Path) -> Run:
    """Start the endpoint and the service, load it, stop it; what happened."""
    from agenttrace.collector import Collector, CollectorConfig
    from agenttrace.store import SpanStore

    run = Run(variant, round_)
    workdir = Path(tempfile.mkdtemp(dir=tmp))
    collector: Collector | None = None
    refusing: socket.socket | None = None
    hole: BlackHole | None = None
    db = workdir / "spans.duckdb"
    if variant == "healthy":
        collector = Collector(CollectorConfig(db=db, http="127.0.0.1:0", grpc=None))
        collector.start()
        port = collector.http_port
    elif variant == "refusing":
        refusing = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        refusing.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused, the port stays ours
        port = refusing.getsockname()[1]
    else:
        hole = BlackHole()
        port = hole.port
    stderr_path = workdir / "service.stderr"
    try:
        with stderr_path.open("w") as stderr:
            service = subprocess.Popen(
                [sys.executable, "-c", WRAPPER, "--port", "0"],
                cwd=ROOT,
                env=_env(f"http://127.0.0.1:{port}", pool=args.users),
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
            try:
                url = _read_url(service)
                samples = workdir / "samples.json"
                stop, first_half = threading.Event(), [0.0]
                sampler = threading.Thread(
                    target=_first_half_rss, args=(service.pid, args.run_time / 2, stop, first_half), daemon=True
                )
                sampler.start()
                _locust(url, args, samples, workdir)
                stop.set()
                sampler.join(timeout=5)
                run.peak_rss_mb = _status_mb(service.pid, "VmHWM")
                run.rss_growth_mb = run.peak_rss_mb - max(first_half)
                run.cpu_s = _cpu_s(service.pid)
                sigterm = time.monotonic()
                service.send_signal(signal.SIGTERM)
                run.exit_code = service.wait(timeout=60)
                run.exit_s = time.monotonic() - sigterm
            finally:
                if service.poll() is None:
                    service.kill()
                    service.wait()
        for name, response_time, error in json.loads(samples.read_text()):
            run.times.append(response_time)
            if error is not None:
                run.failures[f"{name}: {error}"] += 1
    finally:
        if collector is not None:
            collector.stop()
        if refusing is not None:
            refusing.close()
        if hole is not None:
            hole.stop()
    text = stderr_path.read_text()
    run.stderr_tail = text[-1500:]
    found = DROPPED.search(text)
    run.dropped = (
        {"queue_full": int(found[2]), "export_failed": int(found[3]), "exit_timeout": int(found[4])}
        if found
        else {"queue_full": 0, "export_failed": 0, "exit_timeout": 0}
    )
    ended = ENDED.search(text)
    run.ended = int(ended[1]) if ended else -1
    flush = SHUTDOWN.search(text)
    if flush and ended:
        begin, end = float(flush[1]), float(flush[2])
        run.exit_parts = (begin - sigterm, end - begin, float(ended[2]) - end)
    if collector is not None:
        with SpanStore.open(db, read_only=True) as store:
            run.exported = int(store.query("SELECT count(*) FROM spans")[0][0])
    return run


def _p(times: list[float], q: int) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[q - 1] if len(times) > 1 else float("nan")


def _dropped(runs: list[Run]) -> str:
    total = {k: sum(r.dropped[k] for r in runs) for k in ("queue_full", "export_failed", "exit_timeout")}
    return f"{sum(total.values())} ({total['queue_full']}/{total['export_failed']}/{total['exit_timeout']})"


COLUMNS = (
    f"{'variant':<12} {'requests':>8} {'failed':>6} {'p50 ms':>7} {'p95 ms':>7} {'p95 vs h':>8} {'CPU ms/req':>10} "
    f"{'peak RSS MB':>11} {'2nd half +MB':>12} {'ended':>6} {'exported':>8} {'dropped (full/failed/exit)':>26} "
    f"{'exit s':>6}"
)


def _p95_ratio(group: list[Run], healthy: list[Run]) -> float:
    """Median over rounds of the run's p95 / the same round's healthy p95 (pairs runs minutes apart)."""
    base = {r.round: _p(r.times, 95) for r in healthy}
    return statistics.median(_p(r.times, 95) / base[r.round] for r in group)


def _row(label: str, runs: list[Run], ratio: float | None) -> str:
    times = [t for r in runs for t in r.times]
    cpu_ms = sum(r.cpu_s for r in runs) * 1000 / max(1, len(times))
    rss, growth = max(r.peak_rss_mb for r in runs), max(r.rss_growth_mb for r in runs)
    failed, ended, exported = (sum(sum(r.failures.values()) for r in runs), sum(r.ended for r in runs),
                               sum(r.exported for r in runs))  # fmt: skip
    versus = f"{(ratio - 1) * 100:>+7.1f}%" if ratio is not None else f"{'':>8}"
    return (
        f"{label:<12} {len(times):>8} {failed:>6} {_p(times, 50):>7.0f} {_p(times, 95):>7.0f} {versus} "
        f"{cpu_ms:>10.1f} {rss:>11.1f} {growth:>+12.1f} {ended:>6} {exported:>8} {_dropped(runs):>26} "
        f"{max(r.exit_s for r in runs):>6.2f}"
    )


def _targets(group: list[Run], healthy: list[Run]) -> dict[str, bool]:
    ratio = _p95_ratio(group, healthy)
    rss, healthy_rss = max(r.peak_rss_mb for r in group), max(r.peak_rss_mb for r in healthy)
    growth, healthy_growth = max(r.rss_growth_mb for r in group), max(r.rss_growth_mb for r in healthy)
    memory = (
        f"memory bounded: peak RSS within +10% of healthy ({rss:.1f} vs {healthy_rss:.1f} MB), second-half growth "
        f"within healthy's + {RSS_SLACK_MB:.0f} MB ({growth:+.1f} vs {healthy_growth:+.1f} MB)"
    )
    return {
        "no failed requests": all(not r.failures for r in group),
        f"p95 within +10% of healthy (median of per-round ratios: {(ratio - 1) * 100:+.1f}%)": ratio <= 1.10,
        memory: rss <= healthy_rss * 1.10 and growth <= healthy_growth + RSS_SLACK_MB,
        "dropped spans counted exactly (ended = dropped, nothing exported, every run)": all(
            r.conserved and r.exported == 0 for r in group
        ),
        f"exit status 0, the telemetry flush at exit within the {EXIT_BUDGET_S:.0f} s exit budget + 0.25 s "
        f"(longest {max(r.exit_parts[1] for r in group):.2f} s)": all(
            r.exit_code == 0 and 0 < r.exit_parts[1] <= EXIT_BUDGET_S + 0.25 for r in group
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each variant; the order rotates by round")
    parser.add_argument("--users", type=int, default=30, help="Locust users, all spawned in the first second")
    parser.add_argument("--run-time", type=int, default=30, help="seconds of load per run")
    args = parser.parse_args(argv)

    runs: list[Run] = []
    print(COLUMNS.replace("variant     ", "round variant", 1).replace(" p95 vs h", "         "))
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(1, args.rounds + 1):
            shift = (round_ - 1) % len(VARIANTS)  # each variant runs first, second and third equally often
            for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                run = run_variant(variant, round_, args, Path(tmp))
                runs.append(run)
                print(f"{round_:<5} {_row(variant, [run], None)}", flush=True)
                drain, flush, rest = run.exit_parts
                print(f"      exit: {drain:.2f} s to the telemetry flush, {flush:.2f} s flush, {rest:.2f} s to atexit")
                for failure, count in run.failures.most_common(3):
                    print(f"    {count} x {failure}")
                if not run.conserved or run.exit_code != 0:
                    print("    service stderr (tail):\n" + run.stderr_tail)

    by_variant = {v: [r for r in runs if r.variant == v] for v in VARIANTS}
    healthy = by_variant["healthy"]
    print(
        f"\n{args.rounds} round(s) of {args.users} users x {args.run_time} s per variant. Percentiles: over all "
        "rounds; p95 vs healthy: median of per-round ratios; peak RSS, growth, exit: the worst round.\n"
    )
    print(COLUMNS)
    for variant, group in by_variant.items():
        print(_row(variant, group, _p95_ratio(group, healthy)))
    print()
    for variant in VARIANTS[1:]:
        for name, ok in _targets(by_variant[variant], healthy).items():
            print(f"{'PASS' if ok else 'FAIL'}  {variant}: {name}")
    healthy_ok = all(r.conserved and not any(r.dropped.values()) for r in healthy)
    print(f"{'PASS' if healthy_ok else 'FAIL'}  healthy: every span that ended was stored, none dropped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
