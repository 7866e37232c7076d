"""The demo's sequence: collector, agent service, load with a live display, report, and every process stopped."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console, RenderableType
from rich.live import Live

from agenttrace._demo.children import Child, ChildFailed, Children
from agenttrace._demo.load import LoadToolMissing, k6_command, locust_command
from agenttrace._demo.plan import DemoPlan
from agenttrace._demo.progress import Poller, render
from agenttrace._demo.reporting import NoReport, write_reports
from agenttrace.collector import Collector, CollectorConfig

#: Seconds the agent service has to print its URL.
SERVICE_START_S = 60.0
#: Seconds the load tool may run past the planned duration (requests in flight finish) before it is stopped.
LOAD_OVERRUN_S = 30.0
#: Seconds between two refreshes of the display (the load tool's exit is awaited meanwhile).
REFRESH_S = 0.5


class DemoFailed(RuntimeError):
    """A part of the demo failed; the message names the part and says why, in one line."""


def run_demo(plan: DemoPlan, console: Console, *, on_started: list[int] | None = None) -> None:
    """Run the demo of ``plan``; every process it starts is stopped when it returns or raises.

    Args:
        plan: What to run.
        console: Where the display and the report go.
        on_started: When given, the pid of each child is appended as it starts (tests check they are gone).

    Raises:
        DemoFailed: A part failed (the message names it).
        KeyboardInterrupt: Ctrl-C (everything is stopped first).
    """
    run_id = f"demo-{plan.bottleneck}-{secrets.token_hex(3)}"
    db = plan.out_dir / "spans.duckdb"
    children = Children()
    collector = Collector(CollectorConfig(db=db, http="127.0.0.1:0", grpc=None))
    try:
        try:
            collector.start()
        except Exception as exc:  # noqa: BLE001 - any failure to start is reported in one line
            raise DemoFailed(f"the collector could not start: {exc}") from None
        assert collector.api_url is not None and collector.http_port is not None
        console.print(f"collector on {collector.api_url}, spans in {db}")
        service = _start_service(plan, children, collector.http_port, on_started)
        url = service.wait_for_line("agent service on ", SERVICE_START_S)
        console.print(f"agent service on {url}, pid {service.pid} ({plan.bottleneck} bottleneck: {_knobs(plan)})")
        load = _start_load(plan, children, url, run_id, on_started)
        console.print(
            f"{load.name}, pid {load.pid}: ramping to {plan.users} users over {plan.duration_s:g} s, run {run_id}"
        )
        _watch(plan, console, load, service, collector.api_url, run_id)
        code = service.stop()  # SIGTERM: uvicorn drains, the lifespan flushes every span
        if code != 0:
            raise DemoFailed(f"the agent service exited with status {code} when stopped ({service.log})")
        collector.stop()  # every acknowledged span is in DuckDB now
        write_reports(db, run_id, plan.out_dir, console)
    except ChildFailed as exc:
        raise DemoFailed(str(exc)) from None
    except (LoadToolMissing, NoReport) as exc:
        raise DemoFailed(str(exc)) from None
    finally:
        with _signals_held():
            children.stop_all()
            collector.stop()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM while the children stop: a second Ctrl-C must not leave one running."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _knobs(plan: DemoPlan) -> str:
    return " ".join(f"{k}={v}" for k, v in plan.knobs.items()) or "default knobs"


def _base_env(plan: DemoPlan) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENT_", "MODEL_"))}
    # The children import examples/ from the checkout and agenttrace from wherever this process has it.
    paths = [str(plan.root), *(p for p in sys.path if p and Path(p, "agenttrace").is_dir())]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*paths, *filter(None, [env.get("PYTHONPATH")])]))
    return env


def _start_service(plan: DemoPlan, children: Children, otlp_port: int, on_started: list[int] | None) -> Child:
    env = _base_env(plan) | plan.knobs
    env |= {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "agent-service",
        "OTEL_BSP_SCHEDULE_DELAY": "1000",  # spans reach the collector within a second: a fresher display
    }
    argv = [sys.executable, "-m", "examples.agent_service", "--port", "0", "--model-port", "0"]
    child = children.start("the agent service", argv, env, plan.root, plan.out_dir / "agent-service.log")
    if on_started is not None:
        on_started.append(child.pid)
    return child


def _start_load(plan: DemoPlan, children: Children, url: str, run_id: str, on_started: list[int] | None) -> Child:
    if plan.tool == "k6":
        work = plan.out_dir / "k6"
        work.mkdir(exist_ok=True)
        argv, extra = k6_command(plan, url, run_id, work)
        cwd = work
    else:
        argv, extra = locust_command(plan, url, run_id)
        cwd = plan.root
    child = children.start(
        plan.tool.capitalize() if plan.tool == "locust" else "k6",
        argv,
        _base_env(plan) | extra,
        cwd,
        plan.out_dir / f"{plan.tool}.log",
    )
    if on_started is not None:
        on_started.append(child.pid)
    return child


def _watch(plan: DemoPlan, console: Console, load: Child, service: Child, api_url: str, run_id: str) -> None:
    """Show the progress until the load tool exits; a failure of either child ends the demo."""
    title = f"agenttrace demo: {plan.bottleneck} bottleneck, {load.name}, run {run_id}"
    poller = Poller(api_url, run_id)
    poller.start()
    started = time.monotonic()
    deadline = started + plan.duration_s + LOAD_OVERRUN_S

    def view() -> RenderableType:
        elapsed = time.monotonic() - started
        return render(title, elapsed, plan.duration_s, plan.users_at(elapsed), plan.users, poller.snapshot)

    try:
        with Live(view(), console=console, refresh_per_second=4) as live:
            while (code := load.wait(REFRESH_S)) is None:
                if (service_code := service.exit_code()) is not None:
                    raise DemoFailed(f"the agent service exited with status {service_code} ({service.log})")
                if time.monotonic() > deadline:
                    load.stop()
                    code = 0
                    break
                live.update(view())
            live.update(view())
    finally:
        poller.stop()
    if code != 0:
        raise DemoFailed(f"{load.name} exited with status {code} ({load.log})")
