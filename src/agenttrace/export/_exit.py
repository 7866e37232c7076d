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

from agenttrace._guard import guard

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
