"""Streams returned by LLM stages: the stage span stays open until the stream is consumed.

When an LLM stage returns a stream (an OpenAI or Anthropic ``Stream``/``AsyncStream``, or any iterator),
the caller gets a thin proxy instead. It passes every chunk through unchanged, notes the time to the first
chunk and the usage chunks report, and ends the stage on exhaustion, ``close()``, an error, or when the
proxy is garbage-collected unconsumed. Everything else is forwarded to the real stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agenttrace._instrument.active import ActiveStage
from agenttrace._instrument.usage import PLAIN_TYPES


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
            stage.end(cancelled=True)

    def __repr__(self) -> str:
        return f"<agenttrace stream proxy of {self._inner!r}>"


class StreamProxy(_Proxy):
    """A synchronous stream whose stage ends when iteration ends."""

    __slots__ = ()

    def __iter__(self) -> StreamProxy:
        return self

    def __next__(self) -> Any:
        try:
            item = next(self._inner)
        except StopIteration:
            self._stage.end()
            raise
        except Exception as exc:
            self._stage.end(error=exc)
            raise
        self._stage.on_item(item)
        return item

    def close(self) -> None:
        """Close the underlying stream and end the stage."""
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            self._stage.end(cancelled=not self._stage.ended)

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
        try:
            item = await self._inner.__anext__()
        except StopAsyncIteration:
            self._stage.end()
            raise
        except Exception as exc:
            self._stage.end(error=exc)
            raise
        self._stage.on_item(item)
        return item

    async def close(self) -> None:
        """Close the underlying stream and end the stage."""
        try:
            close = getattr(self._inner, "close", None) or getattr(self._inner, "aclose", None)
            if close is not None:
                await close()
        finally:
            self._stage.end(cancelled=not self._stage.ended)

    async def __aenter__(self) -> AsyncStreamProxy:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
