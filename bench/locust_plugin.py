"""What agenttrace's Locust plugin costs the load generator, with and without it, in one run.

Run: ``.venv/bin/python bench/locust_plugin.py`` (``--duration`` / ``--rounds`` / ``--users``).

A raw ASGI endpoint (uvicorn, its own process, 127.0.0.1) answers at once with realistic agenttrace
``Server-Timing`` headers (four stages, the costs, total, trace; 1,024 different values in turn). Locust
(headless, one process, FastHttpUser, no wait) loads it for ``--duration`` seconds, once plain and once with
``import agenttrace.locust``, the two interleaved round by round so machine noise hits both alike; the figure
is the median over rounds of the two back-to-back runs' ratio (medians of each variant's rate are printed
too). Locust's own request count is the measure, so the plugin's per-request
work (headers out, Server-Timing in, stage histograms) shows up as a lower rate.

Target: with the plugin >= 0.9x the request rate without it. The load generator's CPU time per request under
load (measured inside Locust between test start and stop) is printed too: it is what the rate is made of
when Locust is the bottleneck, and it is steadier than the rate on a shared machine.

A third variant, ``headers``, sends the same two headers (a fixed ``traceparent`` and ``baggage``) by hand with
no plugin: what carrying the run costs in the HTTP client itself, the floor of any propagation.

This file is also the locustfile every variant runs (``BENCH_VARIANT``: ``plain``, ``headers``, ``agenttrace``).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# What the middleware sends for an agent request: four stages, the costs, total, trace. The server cycles through
# 1,024 such values with random durations (0.1 ms to minutes), counts and trace ids, so reading them costs what
# real responses cost (no value repeats within 1,024 requests).
SERVER = """
import itertools, random, sys, uvicorn
rng = random.Random(7)
def value():
    stages = [(name, rng.lognormvariate(mu, 1.2), rng.randint(1, 3)) for name, mu in
              (("context_load", 1.0), ("llm_call", 6.5), ("tool_call", 4.0), ("memory_save", 0.5))]
    text = "".join('%s;dur=%.1f;desc="%d", ' % stage for stage in stages if rng.random() < 0.9)
    text += 'llm_calls;desc="%d", tool_calls;desc="%d", input_tokens;desc="%d", output_tokens;desc="%d", ' % (
        rng.randint(1, 4), rng.randint(0, 3), rng.randint(200, 4000), rng.randint(20, 600))
    trace = "00-%032x-%016x-01" % (rng.getrandbits(128), rng.getrandbits(64))
    return (text + 'total;dur=%.1f, trace;desc="%s"' % (rng.lognormvariate(7, 1), trace)).encode()
POOL = itertools.cycle([[(b"content-type", b"text/plain"), (b"server-timing", value())] for _ in range(1024)])
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": next(POOL)})
    await send({"type": "http.response.body", "body": b"ok"})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", lifespan="off", access_log=False)
"""

if __name__ != "__main__":  # loaded by Locust as the locustfile
    import time as _time

    from locust import FastHttpUser, constant, events, task

    _VARIANT = os.environ.get("BENCH_VARIANT", "plain")
    if _VARIANT == "agenttrace":
        import agenttrace.locust  # noqa: F401
    _HEADERS = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "baggage": "agenttrace.run_id=5f2c0a9b1e7d,agenttrace.scenario=ask,agenttrace.user=u-1",
    }

    _cpu: dict[str, float] = {}

    def _load_starts(**_kwargs: object) -> None:
        _cpu["start"] = _time.process_time()

    def _load_stops(environment: object, **_kwargs: object) -> None:
        # The load generator's CPU seconds under load (start-up and imports excluded), for CPU per request.
        print(f"BENCH_CPU_S {_time.process_time() - _cpu['start']:.6f}", flush=True)

    events.test_start.add_listener(_load_starts)
    events.test_stop.add_listener(_load_stops)

    class FastUser(FastHttpUser):
        wait_time = constant(0)

        @task
        def ask(self) -> None:
            if _VARIANT == "headers":
                self.client.get("/ask", name="ask", headers=_HEADERS)
            else:
                self.client.get("/ask", name="ask")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_locust(host: str, variant: str, duration: int, users: int, workdir: Path) -> tuple[float, float]:
    """One headless Locust run: its requests/s from Locust's own final summary, and its CPU us per request."""
    env = {**os.environ, "BENCH_VARIANT": variant}
    command = [sys.executable, "-m", "locust", "-f", __file__, "--headless", "-u", str(users), "-r", str(users)]
    command += ["--run-time", f"{duration}s", "--host", host, "--only-summary", "--stop-timeout", "0"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, env=env, cwd=workdir)
    found = re.search(r"^\s+Aggregated\s+(\d+)\s+(\d+)\(.*\|\s+([\d.]+)\s+[\d.]+\s*$", done.stderr, re.M)
    if found is None or done.returncode != 0:
        raise SystemExit(f"locust failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    if variant == "agenttrace" and "agenttrace stages" not in done.stdout:
        raise SystemExit("the plugin did not report: is agenttrace importable (PYTHONPATH)?")
    cpu = re.search(r"^BENCH_CPU_S ([\d.]+)$", done.stdout, re.M)
    if cpu is None:
        raise SystemExit(f"no CPU figure from the locustfile:\n{done.stdout[-2000:]}")
    return float(found.group(3)), float(cpu.group(1)) / int(found.group(1)) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per Locust run")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--users", type=int, default=4)
    args = parser.parse_args(argv)

    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    variants = ("plain", "headers", "agenttrace")
    rates: dict[str, list[float]] = {variant: [] for variant in variants}
    cpus: dict[str, list[float]] = {variant: [] for variant in variants}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for round_ in range(args.rounds):
                for variant in variants if round_ % 2 == 0 else variants[::-1]:
                    rate, cpu_us = run_locust(f"http://127.0.0.1:{port}", variant, args.duration, args.users, Path(tmp))
                    rates[variant].append(rate)
                    cpus[variant].append(cpu_us)
                    print(f"round {round_ + 1} {variant:<10} {rate:8.1f} req/s {cpu_us:6.1f} CPU-us/req", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)
    # Each round's runs are back to back: their ratio cancels the machine's drift between rounds.
    ratios = {}
    for variant in variants[1:]:
        ratio = statistics.median(v / p for v, p in zip(rates[variant], rates["plain"], strict=True))
        cpu_ratio = statistics.median(p / v for v, p in zip(cpus[variant], cpus["plain"], strict=True))
        ratios[variant] = ratio
        of_medians = statistics.median(rates[variant]) / statistics.median(rates["plain"])
        print(
            f"{variant}: median {statistics.median(rates[variant]):.1f} req/s vs plain "
            f"{statistics.median(rates['plain']):.1f} ({of_medians:.3f}x); median of the rounds' ratios {ratio:.3f}; "
            f"CPU per request {statistics.median(cpus[variant]):.1f} us vs {statistics.median(cpus['plain']):.1f} "
            f"(requests per CPU-second {cpu_ratio:.3f}x)"
        )
    print("target: agenttrace >= 0.9x the plain request rate")
    return 0 if ratios["agenttrace"] >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
