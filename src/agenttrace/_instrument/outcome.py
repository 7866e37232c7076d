"""How a stage or request ended: one classification and one way to mark a span failed, for every wrapper."""

from __future__ import annotations

import enum

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from agenttrace import _names as sc


class Outcome(enum.Enum):
    """How a stage (or request) ended; recorded as ``agenttrace.outcome`` unless it completed."""

    COMPLETED = "completed"
    #: The code raised an ``Exception`` (the span also has ``error.type`` and ERROR status).
    ERROR = "error"
    #: Cancelled (``asyncio.CancelledError``) or interrupted (``KeyboardInterrupt``, ``SystemExit``...).
    CANCELLED = "cancelled"
    #: Closed early by its consumer: ``close()`` / ``aclose()``, ``GeneratorExit``, leaving a ``with`` block.
    CLOSED = "closed"
    #: A returned stream was garbage-collected before it was consumed to the end or closed.
    ABANDONED = "abandoned"


# Enum attribute lookups cost as much as a function call on Python 3.11; the hot path uses these names.
_COMPLETED = Outcome.COMPLETED
_ERROR = Outcome.ERROR


def outcome_of(exc: BaseException | None) -> Outcome:
    """Classify how code ended from the exception it ended with (``None``: it returned)."""
    if exc is None:
        return _COMPLETED
    if isinstance(exc, Exception):
        return _ERROR
    if isinstance(exc, GeneratorExit):
        return Outcome.CLOSED
    # asyncio.CancelledError, KeyboardInterrupt, SystemExit and any other BaseException: the work was stopped.
    return Outcome.CANCELLED


def error_type(exc: BaseException) -> str:
    """The ``error.type`` value for an exception: its class's qualified name."""
    return type(exc).__qualname__


def record_error(span: trace.Span, error: BaseException, etype: str) -> None:
    """Mark ``span`` as failed by ``error``: an exception event, ``error.type`` and ERROR status."""
    span.record_exception(error)
    span.set_attribute(sc.ERROR_TYPE, etype)
    span.set_status(Status(StatusCode.ERROR, f"{etype}: {error}"))
