"""Iteration under a stage: one step, one close, and the proxies for streams that LLM stages return.

Decorated generators (``stage.py``) and returned streams (the proxies here) drive their iterator through the
same two pieces: :func:`advance` runs one step with the stage current and ends the stage if that step
finished or raised; :func:`close_under` closes the iterator early and ends the stage as ``closed``. Each has
an ``async`` twin, since ``await`` cannot be shared with synchronous code.

When an LLM stage returns a stream (an OpenAI or Anthropic ``Stream``/``AsyncStream``, or any iterator),
the caller gets a thin proxy instead. It passes every chunk through unchanged, notes the time to the first
chunk and the usage chunks report, and ends the stage on exhaustion, ``close()``, an error, a cancellation,
or as ``abandoned`` when the proxy is garbage-collected unconsumed. Everything else is forwarded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from agenttrace._instrument.active import ActiveStage
from agenttrace._instrument.outcome import Outcome
from agenttrace._instrument.usage import PLAIN_TYPES


def advance(stage: ActiveStage, step: Callable[[Any], Any], arg: Any) -> Any:
    """Return ``step(arg)`` (the next item) with ``stage`` current; end ``stage`` if the step ends iteration.

    ``StopIteration`` ends it as completed, any other exception by :func:`~.active.outcome_of`; both are
    re-raised unchanged.
    """
    token = stage.attach()
    try:
        item = step(arg)
    except StopIteration:
        stage.end()
        raise
    except BaseException as exc:
        stage.end(error=exc)
        raise
    finally:
        stage.detach(token)
    stage.on_item(item)
    return item


async def aadvance(stage: ActiveStage, step: Callable[[Any], Awaitable[Any]], arg: Any) -> Any:
    """:func:`advance` for asynchronous iterators (``StopAsyncIteration`` ends the stage as completed)."""
    token = stage.attach()
    try:
        item = await step(arg)
    except StopAsyncIteration:
        stage.end()
        raise
    except BaseException as exc:
        stage.end(error=exc)
        raise
    finally:
        stage.detach(token)
    stage.on_item(item)
    return item


def close_under(stage: ActiveStage, close: Callable[[], Any] | None) -> None:
    """Close the iterator early (``close`` may be missing) and end ``stage`` as closed, or as ``close`` failed."""
    try:
        if close is not None:
            close()
    except BaseException as exc:
        stage.end(error=exc)
        raise
    stage.end(outcome=Outcome.CLOSED)


async def aclose_under(stage: ActiveStage, close: Callable[[], Awaitable[Any]] | None) -> None:
    """:func:`close_under` for asynchronous iterators."""
    try:
        if close is not None:
            await close()
    except BaseException as exc:
        stage.end(error=exc)
        raise
    stage.end(outcome=Outcome.CLOSED)


def is_stream(result: Any) -> bool:
    """Whether ``result`` is an iterator an LLM stage should keep its span open over."""
    if type(result) in PLAIN_TYPES or isinstance(result, (bytearray, Mapping)):
        return False
    return hasattr(result, "__next__") or hasattr(result, "__anext__")


def wrap_stream(result: Any, stage: ActiveStage) -> Any:
    """Wrap ``result`` so that ``stage`` ends when it is consumed."""
    stage.note_result(result)
    if hasattr(result, "__anext__"):
        return AsyncStreamProxy(result, stage)
    return StreamProxy(result, stage)


class _Proxy:
    __slots__ = ("_inner", "_stage")

    def __init__(self, inner: Any, stage: ActiveStage) -> None:
        self._inner = inner
        self._stage = stage

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __del__(self) -> None:
        stage = getattr(self, "_stage", None)
        if stage is not None and not stage.ended:
            stage.end(outcome=Outcome.ABANDONED)

    def __repr__(self) -> str:
        return f"<agenttrace stream proxy of {self._inner!r}>"


class StreamProxy(_Proxy):
    """A synchronous stream whose stage ends when iteration ends."""

    __slots__ = ()

    def __iter__(self) -> StreamProxy:
        return self

    def __next__(self) -> Any:
        return advance(self._stage, next, self._inner)

    def close(self) -> None:
        """Close the underlying stream and end the stage."""
        close_under(self._stage, getattr(self._inner, "close", None))

    def __enter__(self) -> StreamProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncStreamProxy(_Proxy):
    """An asynchronous stream whose stage ends when iteration ends."""

    __slots__ = ()

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        return await aadvance(self._stage, anext, self._inner)

    async def close(self) -> None:
        """Close the underlying stream (its ``aclose()`` or async ``close()``) and end the stage."""
        inner = self._inner
        await aclose_under(self._stage, getattr(inner, "aclose", None) or getattr(inner, "close", None))

    #: Async generators and some streams spell it ``aclose``; either way the stage ends.
    aclose = close

    async def __aenter__(self) -> AsyncStreamProxy:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
