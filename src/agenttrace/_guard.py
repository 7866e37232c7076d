"""The one guard between agenttrace's internals and the host application.

Telemetry must never break the app: an exception raised inside agenttrace is logged once per call site and
swallowed, and the caller falls back to doing nothing. Under pytest it is re-raised instead, so our own bugs
surface in our tests rather than hiding behind the guard.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable
from types import TracebackType
from typing import ParamSpec, TypeVar

logger = logging.getLogger("agenttrace")

_seen: set[str] = set()
_seen_lock = threading.Lock()

P = ParamSpec("P")
R = TypeVar("R")


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

    Call only from an ``except`` block; :class:`guard` is the usual way in.
    """
    if reraise_internal_errors():
        raise  # noqa: PLE0704 - re-raise the exception being handled
    _log_once(where, None)


def _log_once(where: str, error: BaseException | None) -> None:
    with _seen_lock:
        first = where not in _seen
        _seen.add(where)
    if first:
        logger.error(
            "agenttrace internal error in %s; telemetry for this call is skipped",
            where,
            exc_info=error if error is not None else True,
        )


class guard:  # noqa: N801 - used like a function: with guard("stage.start"):
    """Keep an exception raised inside agenttrace from reaching the application.

    As a context manager, an ``Exception`` raised in the block is logged once per ``where`` and swallowed
    (code after the block is the fallback); under pytest it propagates instead. ``BaseException``
    (cancellation, ``KeyboardInterrupt``) always propagates: it is not ours to stop. One instance holds no
    state besides its name, so it can be built once, at import, and shared between threads and tasks.

    On the per-call path a ``with`` costs two Python calls; there, write ``try: ... except Exception:
    GUARD.handle()`` instead (``try`` is free on Python 3.11+), which decides the same way.

    Example:
        >>> with guard("request.enter"):  # doctest: +SKIP
        ...     return start()
        >>> return None  # the fallback  # doctest: +SKIP
    """

    __slots__ = ("where",)

    def __init__(self, where: str) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if exc is None or not isinstance(exc, Exception) or reraise_internal_errors():
            return False
        _log_once(self.where, exc)
        return True

    def handle(self) -> None:
        """From an ``except Exception`` block: log the exception once for this site, or re-raise it under pytest."""
        if reraise_internal_errors():
            raise  # noqa: PLE0704 - re-raise the exception being handled
        _log_once(self.where, None)


def guarded(where: str, fallback: R) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate an internal function so that an exception from it is logged once and ``fallback`` returned.

    Example:
        >>> @guarded("rollup.attributes", fallback={})  # doctest: +SKIP
        ... def rollup_attributes(scope): ...
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with guard(where):
                return func(*args, **kwargs)
            return fallback

        return wrapper

    return decorate
