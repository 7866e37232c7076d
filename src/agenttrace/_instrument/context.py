"""Carrying the current stage and request roll-up into threads the standard library starts bare.

``asyncio.gather``, ``create_task`` and ``asyncio.to_thread`` copy the context by themselves.
``loop.run_in_executor`` and ``ThreadPoolExecutor.submit`` do not: wrap the callable with
:func:`with_context` where it is submitted.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from opentelemetry import context as otel_context

P = ParamSpec("P")
R = TypeVar("R")


def with_context(func: Callable[P, R]) -> Callable[P, R]:
    """Bind ``func`` to the current context (span, request roll-up, stage, baggage) for another thread.

    The context is captured now, when you wrap, and made current around each call, so one wrapped
    callable may run in many threads at once.

    Example:
        >>> pool.submit(agenttrace.with_context(lookup_order), order_id)  # doctest: +SKIP
        >>> await loop.run_in_executor(None, agenttrace.with_context(lookup_order), order_id)  # doctest: +SKIP
    """
    captured = otel_context.get_current()

    @functools.wraps(func)
    def run_in_context(*args: P.args, **kwargs: P.kwargs) -> R:
        token = otel_context.attach(captured)
        try:
            return func(*args, **kwargs)
        finally:
            otel_context.detach(token)

    return run_in_context
