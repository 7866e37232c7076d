"""The exit budget: flushing spans at exit takes at most a few seconds, whatever the collector does.

A dead or black-holed collector would otherwise hold the process for the SDK's own limits (30 s per
processor, 10 s per export attempt). Each step of the exit runs in a daemon thread joined with what is left of
the budget, so a stuck export is abandoned (and its spans counted as dropped) instead of waited for.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable

from opentelemetry import trace

from agenttrace._guard import guard, logger

#: The environment variable holding the default exit budget, in seconds.
EXIT_TIMEOUT_ENV = "AGENTTRACE_EXIT_TIMEOUT"
#: The exit budget when neither ``exit_timeout=`` nor ``AGENTTRACE_EXIT_TIMEOUT`` says otherwise, in seconds.
DEFAULT_EXIT_TIMEOUT = 3.0


def exit_timeout(value: float | None = None) -> float:
    """The exit budget in seconds: ``value``, else ``AGENTTRACE_EXIT_TIMEOUT``, else 3.

    Raises:
        ValueError: The value is not a finite number of seconds >= 0.
    """
    source = "exit_timeout"
    if value is None:
        raw = os.environ.get(EXIT_TIMEOUT_ENV, "").strip()
        if not raw:
            return DEFAULT_EXIT_TIMEOUT
        source = EXIT_TIMEOUT_ENV
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"agenttrace: {EXIT_TIMEOUT_ENV} must be a number of seconds, got {raw!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"agenttrace: {source} must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


def run_bounded(work: Callable[[], object], seconds: float, what: str) -> bool:
    """Run ``work`` in a daemon thread and wait at most ``seconds``; whether it finished in time."""

    def guarded() -> None:
        with guard(what):
            work()

    thread = threading.Thread(target=guarded, name=f"agenttrace {what}", daemon=True)
    thread.start()
    thread.join(max(0.0, seconds))
    return not thread.is_alive()


def flush_for_exit(tracer_provider: object | None = None) -> None:
    """Flush span export because the server is shutting down, within the exit budget.

    Providers agenttrace installed (:func:`agenttrace.configure`) are shut down: a final, exact drop count and
    the one warning. A provider the application configured itself is only flushed: its owner shuts it down.

    Args:
        tracer_provider: The provider the middleware was given, if any (default: the global one).
    """
    from agenttrace.export._configure import configured

    handle = configured()
    if handle is not None:
        budget = handle.exit_timeout
    else:
        try:
            budget = exit_timeout()
        except ValueError as exc:
            logger.warning("%s; using %s s", exc, DEFAULT_EXIT_TIMEOUT)
            budget = DEFAULT_EXIT_TIMEOUT
    if handle is not None and handle.owns_providers:
        handle.shutdown()
        if tracer_provider is None or tracer_provider is handle.tracer_provider:
            return
    provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
    flush = getattr(provider, "force_flush", None)
    if callable(flush):
        run_bounded(lambda: flush(int(budget * 1000)), budget, "span flush at exit")
