"""What agenttrace's Locust plugin costs the load generator: Locust with and without it, taking turns.

Run: ``PYTHONPATH=src .venv/bin/python bench/locust_plugin.py`` (``--cycles`` / ``--slice`` / ``--users``).

A raw ASGI endpoint (uvicorn, its own process, 127.0.0.1) answers at once with realistic agenttrace
``Server-Timing`` headers (four stages, the costs, total, trace; ``--values`` different values in turn, 1,024 by
default). Three headless
Locust processes load it (FastHttpUser, no wait, ``--users`` users each): ``plain``; ``headers``, which sends a
fixed ``traceparent`` and ``baggage`` by hand with no plugin (what carrying the run costs in the HTTP client
itself, the floor of any propagation); and ``agenttrace``, which does ``import agenttrace.locust``.

They load it **in turns**: all three are stopped (SIGSTOP) and one at a time runs for ``--slice`` seconds
(SIGCONT), cycle after cycle, the order rotating each cycle. So the machine's drift, which on these shared
machines moves the plain rate alone by 2-3x within minutes, hits every variant alike within a second. (The
first form of this bench ran the variants as separate runs back to back; its figure moved more from run to
run than the cost it measured.)

Each Locust process writes Locust's own request count (``stats.total.num_requests``) and its CPU time to a file
every ``SAMPLE_S`` seconds; a slice's rate is the count's growth between its first and last sample inside the
slice, so time spent stopped never counts. Printed per variant: the rate and CPU per request over all slices,
the median over cycles of each cycle's ratio to ``plain`` (the target's figure) and the ratio of the totals.

Target: with the plugin >= 0.9x the request rate without it.

This file is also the locustfile every variant runs (``BENCH_VARIANT``, ``BENCH_SAMPLES``).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

#: Seconds between two samples of a Locust process's request count and CPU time.
SAMPLE_S = 0.02

# What the middleware sends for an agent request: four stages, the costs, total, trace. The server cycles through
# N such values (argv[2]) with random durations (0.1 ms to minutes), counts and trace ids. With the default 1,024,
# a stage's duration text recurs, as it does when the generator is the bottleneck (fast responses: short, often
# equal durations); with --values 200000 nearly every duration is new, as in a slow agent's run.
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
VALUES = int(sys.argv[2])
POOL = itertools.cycle([[(b"content-type", b"text/plain"), (b"server-timing", value())] for _ in range(VALUES)])
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": next(POOL)})
    await send({"type": "http.response.body", "body": b"ok"})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", lifespan="off", access_log=False)
"""

if __name__ != "__main__":  # loaded by Locust as the locustfile
    import gevent
    from locust.env import Environment

    from locust import FastHttpUser, constant, events, task

    _VARIANT = os.environ.get("BENCH_VARIANT", "plain")
    if _VARIANT == "agenttrace":
        import agenttrace.locust
        from agenttrace._loadrun.propagation import _WRAPPED
    _HEADERS = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "baggage": "agenttrace.run_id=5f2c0a9b1e7d,agenttrace.scenario=ask,agenttrace.user=u-1",
    }
    _environment: list[Environment] = []

    def _read_by_plugin() -> int:
        """Responses whose Server-Timing the plugin has taken (read, or waiting in its batch); 0 without it."""
        if _VARIANT != "agenttrace":
            return 0
        state = agenttrace.locust.state
        return state.stats.requests + len(state.batch.values)

    def _sample(environment: Environment, path: str) -> None:
        with open(path, "w") as out:
            while True:
                total = environment.stats.total
                now, cpu = time.monotonic(), time.process_time()
                out.write(f"{now:.6f} {total.num_requests} {cpu:.6f} {_read_by_plugin()} {total.num_failures}\n")
                out.flush()
                gevent.sleep(SAMPLE_S)

    def _keep_environment(environment: Environment, **_kwargs: object) -> None:
        _environment.append(environment)

    def _loading(**_kwargs: object) -> None:
        if _VARIANT == "agenttrace" and not FastUser.__dict__.get(_WRAPPED):
            print("BENCH_NOT_INSTRUMENTED", flush=True)
            return
        gevent.spawn(_sample, _environment[0], os.environ["BENCH_SAMPLES"])
        print("BENCH_READY", flush=True)

    events.init.add_listener(_keep_environment)
    events.spawning_complete.add_listener(_loading)

    class FastUser(FastHttpUser):
        wait_time = constant(0)

        @task
        def ask(self) -> None:
            if _VARIANT == "headers":
                self.client.get("/ask", name="ask", headers=_HEADERS)
            else:
                self.client.get("/ask", name="ask")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_server(port: int, server: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    """Until the server accepts connections (it builds its values first: seconds for --values 200000)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if server.poll() is not None:
            raise SystemExit(f"the server exited (code {server.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not listen within {timeout_s:.0f} s") from None
            time.sleep(0.05)  # polling a port in a bench script: nothing to wait on instead


def start_locust(host: str, variant: str, users: int, workdir: Path, limit_s: int) -> subprocess.Popen[str]:
    """A headless Locust process loading ``host``, stopped (SIGSTOP) once all its users are loading."""
    env = {**os.environ, "BENCH_VARIANT": variant, "BENCH_SAMPLES": str(workdir / f"{variant}.samples")}
    command = [sys.executable, "-m", "locust", "-f", __file__, "--headless", "-u", str(users), "-r", str(users)]
    command += ["--run-time", f"{limit_s}s", "--host", host, "--only-summary", "--stop-timeout", "0"]
    with open(workdir / f"{variant}.log", "w") as log:
        locust = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=workdir)
    watchdog = threading.Timer(120, locust.kill)  # a Locust that never starts loading must not hang the bench
    watchdog.start()
    try:
        assert locust.stdout is not None
        line = locust.stdout.readline()
        while line and line.strip() not in ("BENCH_READY", "BENCH_NOT_INSTRUMENTED"):
            line = locust.stdout.readline()
    finally:
        watchdog.cancel()
    if line.strip() != "BENCH_READY":
        locust.kill()
        log_text = (workdir / f"{variant}.log").read_text()[-2000:]
        why = "the plugin did not instrument the user (is agenttrace importable? PYTHONPATH=src)" if line else "no load"
        raise SystemExit(f"locust {variant}: {why} (exit {locust.wait()}):\n{log_text}")
    locust.send_signal(signal.SIGSTOP)
    return locust


Sample = tuple[float, int, float, int, int]


def read_samples(path: Path) -> list[Sample]:
    """(monotonic time, Locust's request count, CPU seconds, responses read by the plugin, failures) per sample."""
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 5:  # the last line may be cut off by the kill
            rows.append((float(parts[0]), int(parts[1]), float(parts[2]), int(parts[3]), int(parts[4])))
    return rows


class Slice:
    """What one variant did in one turn: requests, seconds and CPU seconds between its first and last sample."""

    def __init__(self, samples: list[Sample], start: float, end: float) -> None:
        inside = [sample for sample in samples if start < sample[0] < end]
        if len(inside) < 2:
            raise SystemExit(f"fewer than two samples in a {end - start:.3f} s slice: use a longer --slice")
        first, last = inside[0], inside[-1]
        self.seconds = last[0] - first[0]
        self.requests = last[1] - first[1]
        self.cpu_s = last[2] - first[2]
        self.read = last[3] - first[3]
        self.failures = last[4] - first[4]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=80, help="measured turns of every variant")
    parser.add_argument("--warmup", type=int, default=3, help="turns run first and not counted")
    parser.add_argument("--slice", type=float, default=0.5, help="seconds each variant runs per turn")
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--values", type=int, default=1024, help="different Server-Timing values the server cycles")
    args = parser.parse_args(argv)

    variants = ("plain", "headers", "agenttrace")
    turns: dict[str, list[tuple[float, float]]] = {variant: [] for variant in variants}
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(args.values)])
    limit_s = int((args.cycles + args.warmup) * args.slice * len(variants)) + 600  # Locust's own safety stop
    locusts: dict[str, subprocess.Popen[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        try:
            wait_for_server(port, server)
            for variant in variants:
                locusts[variant] = start_locust(f"http://127.0.0.1:{port}", variant, args.users, workdir, limit_s)
            for cycle in range(args.warmup + args.cycles):
                shift = cycle % len(variants)
                for variant in variants[shift:] + variants[:shift]:
                    locust = locusts[variant]
                    start = time.monotonic()
                    locust.send_signal(signal.SIGCONT)
                    time.sleep(args.slice)  # the turn's length, not a wait for something to happen
                    locust.send_signal(signal.SIGSTOP)
                    end = time.monotonic()
                    if locust.poll() is not None:
                        raise SystemExit(f"locust {variant} exited (code {locust.returncode}) during the bench")
                    if cycle >= args.warmup:
                        turns[variant].append((start, end))
        finally:
            for locust in locusts.values():
                locust.kill()
                locust.wait(timeout=30)
            server.terminate()
            server.wait(timeout=10)
        samples = {variant: read_samples(workdir / f"{variant}.samples") for variant in variants}
        slices = {variant: [Slice(samples[variant], *turn) for turn in turns[variant]] for variant in variants}

    def total_rate(variant: str) -> float:
        return sum(s.requests for s in slices[variant]) / sum(s.seconds for s in slices[variant])

    def cpu_us(variant: str) -> float:
        return sum(s.cpu_s for s in slices[variant]) / sum(s.requests for s in slices[variant]) * 1e6

    failures = sum(s.failures for turns_ in slices.values() for s in turns_)
    if failures:
        raise SystemExit(f"{failures:,} requests failed while measured: the bench measures successful requests only")
    read, loaded = sum(s.read for s in slices["agenttrace"]), sum(s.requests for s in slices["agenttrace"])
    if read < 0.99 * loaded:
        raise SystemExit(f"the plugin read {read:,} of {loaded:,} responses: the bench does not measure it")
    print(
        f"{args.cycles} cycles of {args.slice} s turns, {args.users} users, {args.values:,} Server-Timing values, "
        f"after {args.warmup} warm-up cycles"
    )
    for variant in variants:
        rates = [s.rate for s in slices[variant]]
        print(
            f"{variant:<10} {total_rate(variant):8.1f} req/s over {sum(s.seconds for s in slices[variant]):5.1f} s "
            f"(turns {min(rates):.0f}-{max(rates):.0f}); {cpu_us(variant):6.1f} CPU-us/req"
        )
    medians = {}
    for variant in variants[1:]:
        per_cycle = [s.rate / p.rate for s, p in zip(slices[variant], slices["plain"], strict=True)]
        medians[variant] = statistics.median(per_cycle)
        quartiles = statistics.quantiles(per_cycle, n=4)
        print(
            f"{variant} / plain: median of the cycles' ratios {medians[variant]:.3f} (quartiles {quartiles[0]:.3f}-"
            f"{quartiles[2]:.3f}); ratio of the totals {total_rate(variant) / total_rate('plain'):.3f}; "
            f"requests per CPU-second {cpu_us('plain') / cpu_us(variant):.3f}x"
        )
    print("target: agenttrace >= 0.9x the plain request rate (median of the cycles' ratios)")
    return 0 if medians["agenttrace"] >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
