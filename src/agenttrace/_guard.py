"""The one guard between agenttrace's internals and the host application.

Telemetry must never break the app: an exception raised inside agenttrace is logged once per call site and
swallowed, and the caller falls back to doing nothing. Under pytest it is re-raised instead, so our own bugs
surface in our tests rather than hiding behind the guard.
"""

from __future__ import annotations

import logging
import os
import threading

logger = logging.getLogger("agenttrace")

_seen: set[str] = set()
_seen_lock = threading.Lock()


def reraise_internal_errors() -> bool:
    """Whether internal errors propagate: under pytest (it sets ``PYTEST_VERSION``) unless switched off.

    ``AGENTTRACE_RERAISE_INTERNAL_ERRORS=0`` switches it off, e.g. for a test of the guard itself.
    """
    flag = os.environ.get("AGENTTRACE_RERAISE_INTERNAL_ERRORS")
    if flag is not None:
        return flag not in ("", "0", "false", "False")
    return "PYTEST_VERSION" in os.environ


def log_internal_error(where: str) -> None:
    """Log the exception being handled, once per ``where``, or re-raise it under pytest.

    Call only from an ``except`` block.
    """
    if reraise_internal_errors():
        raise  # noqa: PLE0704 - re-raise the exception being handled
    with _seen_lock:
        first = where not in _seen
        _seen.add(where)
    if first:
        logger.exception("agenttrace internal error in %s; telemetry for this call is skipped", where)
