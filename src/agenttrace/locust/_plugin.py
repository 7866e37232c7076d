"""The Locust event listeners: options, per-request Server-Timing, worker merge, end-of-run output, web UI.

Only Locust's events are hooked (``init_command_line_parser``, ``init``, ``request``, ``report_to_master``,
``worker_report``, ``reset_stats``, ``quit``); nothing here adds to Locust's own request statistics.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from typing import Any

from locust.contrib.fasthttp import FastHttpUser
from locust.env import Environment
from locust.runners import WorkerRunner
from locust.user.users import HttpUser

from agenttrace._guard import log_internal_error
from agenttrace._loadrun import report as _report
from agenttrace._loadrun.batch import ServerTimingBatch
from agenttrace._loadrun.propagation import TRACEPARENT, Propagation, instrument_user_class
from agenttrace._loadrun.responses import server_timing
from agenttrace._loadrun.stats import KEEP_TRACES, RunStats, TracedRequest
from agenttrace.servertiming import parse_server_timing
from locust import events

logger = logging.getLogger("agenttrace.locust")

#: The key of agenttrace's data in Locust's worker-to-master stats messages.
WIRE_KEY = "agenttrace"
TAB_KEY = "agenttrace"


class _State:
    """This process's plugin state: the environment, the statistics, the propagation settings."""

    def __init__(self) -> None:
        self.environment: Environment | None = None
        self.stats = RunStats()
        self.batch = ServerTimingBatch()
        self.propagation: Propagation | None = None

    def settled(self) -> RunStats:
        """The statistics with every response read so far (the batch folded in)."""
        self.batch.fold(self.stats)
        return self.stats

    def reset(self) -> None:
        """Start over: new statistics, nothing waiting."""
        self.stats = RunStats()
        self.batch = ServerTimingBatch()


state = _State()


def _add_options(parser: Any, **_kwargs: Any) -> None:
    parser.add_argument(
        "--agenttrace-run-id",
        default="",
        env_var="AGENTTRACE_RUN_ID",
        help="Run id sent as W3C baggage agenttrace.run_id (default: generated and printed at start)",
    )
    parser.add_argument(
        "--agenttrace-jaeger-url",
        default="",
        env_var="AGENTTRACE_JAEGER_URL",
        help="Jaeger UI base URL: failed and slowest requests are printed as links to their traces",
    )


def _options(environment: Environment) -> Any:
    return environment.parsed_options


def run_id(environment: Environment) -> str:
    """The run id of this load run (set on the master or local runner, copied to workers by Locust)."""
    options = _options(environment)
    return str(getattr(options, "agenttrace_run_id", "") or "") if options is not None else ""


def _worker_index(environment: Environment) -> int | None:
    runner = environment.runner
    return runner.worker_index if isinstance(runner, WorkerRunner) else None


def _on_init(environment: Environment, **_kwargs: Any) -> None:
    state.environment = environment
    state.reset()
    options = _options(environment)
    if options is not None and not isinstance(environment.runner, WorkerRunner):
        if not getattr(options, "agenttrace_run_id", ""):
            options.agenttrace_run_id = uuid.uuid4().hex[:12]
        logger.info("agenttrace run id: %s", options.agenttrace_run_id)
    state.propagation = Propagation(lambda: run_id(environment), lambda: _worker_index(environment))
    for cls in environment.user_classes:
        if issubclass(cls, (HttpUser, FastHttpUser)):
            instrument_user_class(cls, lambda: state.propagation)
    if environment.web_ui is not None:
        _extend_web_ui(environment)


def _sent_trace_id(response: Any) -> str:
    request = getattr(response, "request", None)
    headers = getattr(request, "headers", None)
    value = headers.get(TRACEPARENT) if headers else None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value[3:35] if isinstance(value, str) and len(value) >= 35 else ""


def _trace_id(server_timing: str | None, response: Any) -> str:
    """The trace id the server named in ``Server-Timing``, else the one sent in ``traceparent``."""
    named = parse_server_timing(server_timing).trace_id if server_timing else None
    return named or _sent_trace_id(response)


def _on_request(
    name: str,
    response_time: float | None,
    response: Any = None,
    exception: BaseException | None = None,
    request_type: Any = None,
    response_length: Any = None,
    context: Any = None,
    start_time: Any = None,
    url: Any = None,
    **_kwargs: Any,
) -> None:
    # Every argument Locust passes is named, so no leftover dict is built per request (measured: 0.2 us).
    try:
        stats = state.stats
        value = server_timing(getattr(response, "headers", None))
        if value:
            state.batch.add(value, stats)
        elapsed = response_time or 0.0
        if exception is None and elapsed <= stats.slowest_floor:
            return  # the common case: neither failed nor among the slowest, nothing to keep
        failed = exception is not None
        listed = not failed or len(stats.failed) < KEEP_TRACES  # past that, a failure is only counted
        trace_id = _trace_id(value, response) if listed else ""
        error = f"{type(exception).__name__}: {exception}"[:200] if failed else ""
        stats.keep_trace(TracedRequest(elapsed, name, trace_id, error), failed)
    except Exception:
        log_internal_error("locust.request")


def _on_report_to_master(data: dict[str, Any], **_kwargs: Any) -> None:
    try:
        data[WIRE_KEY] = state.settled().to_wire()
        state.reset()  # each report carries what happened since the last one
    except Exception:
        log_internal_error("locust.report_to_master")


def _on_worker_report(data: dict[str, Any], **_kwargs: Any) -> None:
    try:
        if WIRE_KEY in data:
            state.stats.merge(RunStats.from_wire(data[WIRE_KEY]))
    except Exception:
        log_internal_error("locust.worker_report")


def _on_reset_stats(**_kwargs: Any) -> None:
    state.reset()


def _on_quit(**_kwargs: Any) -> None:
    environment = state.environment
    if environment is None or isinstance(environment.runner, WorkerRunner):
        return
    try:
        options = _options(environment)
        jaeger = getattr(options, "agenttrace_jaeger_url", "") or None
        stats = state.settled()
        output = [_report.table(stats)]
        kept = _report.traces(stats, jaeger)
        if kept:
            output.append(kept)
        output.append(f"agenttrace run id: {run_id(environment)}")
        print("\n".join(output), file=sys.stdout, flush=True)
        prefix = getattr(options, "csv_prefix", None)
        if prefix:
            _report.write_csv(stats, prefix)
    except Exception:
        log_internal_error("locust.quit")


def _extend_web_ui(environment: Environment) -> None:
    web_ui = environment.web_ui
    assert web_ui is not None
    args = web_ui.template_args
    args["extended_tabs"] = [*args.get("extended_tabs", []), {"title": "agenttrace stages", "key": TAB_KEY}]
    args["extended_tables"] = [*args.get("extended_tables", []), {"key": TAB_KEY, "structure": _report.WEB_TABLE}]

    from flask import request

    def _add_stage_rows(response: Any) -> Any:
        try:
            if request.path.endswith("/stats/requests") and response.is_json:
                body = response.get_json()
                ours = {"key": TAB_KEY, "data": _report.web_rows(state.settled())}
                extended = [*body.get("extended_stats", []), ours]
                response.set_data(json.dumps({**body, "extended_stats": extended}))
        except Exception:
            log_internal_error("locust.web_ui")
        return response

    if web_ui.app is not None:
        web_ui.app.after_request(_add_stage_rows)


def _register() -> None:
    """Hook the listeners into Locust's events (once, at import)."""
    listeners: dict[str, Any] = {
        "init_command_line_parser": _add_options,
        "init": _on_init,
        "request": _on_request,
        "report_to_master": _on_report_to_master,
        "worker_report": _on_worker_report,
        "reset_stats": _on_reset_stats,
        "quit": _on_quit,
    }
    for name, listener in listeners.items():
        hook: Any = getattr(events, name)
        hook.add_listener(listener)


_register()
