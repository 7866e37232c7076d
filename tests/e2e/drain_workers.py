"""A locustfile without users that ends a distributed headless run without losing the workers' last reports.

On ``--run-time`` Locust's master tells the workers to quit and waits a fixed 0.5 s for their final reports
(locustio/locust#1426): a worker still finishing its users' tasks (``--stop-timeout``) reports too late, and
those requests are missing from Locust's summary and from agenttrace's merged table. (The master's ``stop()``
does not help: it forgets a worker once its users stopped and discards its later reports.) Loaded next to the
real locustfile (``-f examples/locustfile.py,tests/e2e/drain_workers.py``, no ``--run-time``), this ends the run
after ``E2E_RUN_S`` seconds instead: each worker stops its own users (after their current task) and says so;
the master then waits for one more statistics report from each worker (sent after that, so it holds every
request) and quits.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import gevent
from gevent.event import Event
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from locust import events

RUN_S = float(os.environ.get("E2E_RUN_S", "4"))
REPORT_WAIT_S = 15.0  # workers report every 3 s, plus the time their users take to finish
STOP, STOPPED = "e2e_stop_users", "e2e_users_stopped"
NOT_REPORTED = "e2e: no report after stopping from workers"


def _master(environment: Environment, runner: MasterRunner) -> None:
    stopped: set[str] = set()
    reported: set[str] = set()
    done = Event()

    def on_stopped(msg: Any, **_kwargs: Any) -> None:
        stopped.add(msg.node_id)

    def on_report(client_id: str, **_kwargs: Any) -> None:
        if client_id in stopped:  # a report sent after the worker's users stopped: it holds all their requests
            reported.add(client_id)
            if reported >= set(runner.clients.keys()):
                done.set()

    runner.register_message(STOPPED, on_stopped)
    environment.events.worker_report.add_listener(on_report)

    def finish() -> None:
        runner.send_message(STOP)
        if not done.wait(timeout=REPORT_WAIT_S):  # quit anyway: the test then fails on this line
            missing = sorted(set(runner.clients.keys()) - reported)
            logging.getLogger(__name__).error("%s %s", NOT_REPORTED, missing)
        runner.quit()

    environment.events.test_start.add_listener(lambda **_kwargs: gevent.spawn_later(RUN_S, finish))


def _worker(runner: WorkerRunner) -> None:
    def on_stop(**_kwargs: Any) -> None:
        runner.stop()  # the users finish their current task (--stop-timeout)
        runner.send_message(STOPPED)

    runner.register_message(STOP, on_stop, concurrent=True)


@events.init.add_listener
def _on_init(environment: Environment, **_kwargs: Any) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        _master(environment, runner)
    elif isinstance(runner, WorkerRunner):
        _worker(runner)
