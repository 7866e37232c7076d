"""``agenttrace.stage``: one object usable as a decorator and as a (sync or async) context manager.

The wrapper is chosen once, at decoration time: a coroutine's span covers the awaited body, a generator's
span covers iteration (the stage is current only while the generator body runs, not while the consumer
handles an item) and ends on exhaustion, ``close()`` or an error. User exceptions pass through unchanged;
``CancelledError`` and ``GeneratorExit`` end the span without marking it an error. Every form ends its stage
through :meth:`ActiveStage.end`, which classifies how it ended (:class:`~.active.Outcome`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast

from opentelemetry import metrics, trace

from agenttrace._guard import guard
from agenttrace._instrument.active import ActiveStage, current_stage, start_stage
from agenttrace._instrument.spec import StageSpec
from agenttrace._instrument.stream import aadvance, aclose_under, advance, close_under, is_stream, wrap_stream

P = ParamSpec("P")
R = TypeVar("R")

_GUARD_EXIT = guard("stage.exit")
_GUARD_STREAM = guard("stage.stream")


class stage:  # noqa: N801 - used like a function: @agenttrace.stage("llm_call")
    """Time one stage of an agent as an OpenTelemetry span.

    Args:
        name: The stage name, recorded as ``agenttrace.stage`` (e.g. ``"llm_call"``, ``"context_load"``).
        model: The requested model; makes this an LLM stage (span ``"{operation} {model}"``).
        provider: ``gen_ai.provider.name`` (``"openai"``, ``"anthropic"``...); makes this an LLM stage.
        tool: The tool name; makes this a tool stage (span ``"execute_tool {tool}"``).
        operation: ``gen_ai.operation.name``; ``"chat"`` by default for LLM stages.
        attributes: Extra fixed span attributes.
        capture_content: Record the completion text (``gen_ai.output.messages``). Off by default.
        tracer_provider: Use this provider instead of the global one.
        meter_provider: Use this provider instead of the global one.

    Example:
        >>> @agenttrace.stage("llm_call", model="gpt-4o-mini", provider="openai")  # doctest: +SKIP
        ... async def call_llm(messages): ...
        >>> with agenttrace.stage("llm_call", model="m") as s:  # doctest: +SKIP
        ...     s.record_usage(input_tokens=812, output_tokens=64)
    """

    __slots__ = ("_spec",)

    def __init__(
        self,
        name: str,
        *,
        model: str | None = None,
        provider: str | None = None,
        tool: str | None = None,
        operation: str | None = None,
        attributes: dict[str, Any] | None = None,
        capture_content: bool = False,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self._spec = StageSpec.build(
            name,
            model=model,
            provider=provider,
            tool=tool,
            operation=operation,
            attributes=attributes,
            capture_content=capture_content,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )

    def __repr__(self) -> str:
        return f"agenttrace.stage({self._spec.name!r}, kind={self._spec.kind!r})"

    # --- decorator -------------------------------------------------------------------------------------

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        if isinstance(func, (staticmethod, classmethod)):
            return type(func)(self(func.__func__))
        if not callable(func):
            raise TypeError(f"agenttrace.stage({self._spec.name!r}) decorates callables, got {func!r}")
        spec = self._spec.for_function(getattr(func, "__name__", self._spec.name))
        if inspect.isasyncgenfunction(func):
            return cast("Callable[P, R]", _wrap_async_generator(func, spec))
        if inspect.iscoroutinefunction(func):
            return cast("Callable[P, R]", _wrap_coroutine(func, spec))
        if inspect.isgeneratorfunction(func):
            return cast("Callable[P, R]", _wrap_generator(func, spec))
        return _wrap_function(func, spec)

    # --- context manager -------------------------------------------------------------------------------

    def __enter__(self) -> ActiveStage:
        active = start_stage(self._spec)
        if active is None:
            return _noop_stage(self._spec)
        active.token = active.attach()
        return active

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        active = current_stage()
        if active is None or active.spec is not self._spec or active.token is None:
            return  # __enter__ fell back to a no-op, or the context was changed under us
        with _GUARD_EXIT:
            active.detach(active.token)
        active.end(error=exc)

    async def __aenter__(self) -> ActiveStage:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def _noop_stage(spec: StageSpec) -> ActiveStage:
    """A stand-in when starting the stage failed: it records nothing and never raises."""
    noop = ActiveStage(spec, trace.INVALID_SPAN, None, trace.set_span_in_context(trace.INVALID_SPAN))
    noop.ended = True
    return noop


def _returned(active: ActiveStage, result: R) -> R:
    """End ``active`` with ``result``, or hand back a stream proxy that ends it when consumed."""
    try:
        if active.spec.is_llm and is_stream(result):
            return cast("R", wrap_stream(result, active))
    except Exception:
        _GUARD_STREAM.handle()
    active.end(result=result)
    return result


def _wrap_function(func: Callable[P, R], spec: StageSpec) -> Callable[P, R]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        active = start_stage(spec)
        if active is None:
            return func(*args, **kwargs)
        token = active.attach()
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            active.end(error=exc)
            raise
        finally:
            active.detach(token)
        return _returned(active, result)

    return wrapper


def _wrap_coroutine(func: Callable[P, Any], spec: StageSpec) -> Callable[P, Any]:
    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        active = start_stage(spec)
        if active is None:
            return await func(*args, **kwargs)
        token = active.attach()
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            active.end(error=exc)
            raise
        finally:
            active.detach(token)
        return _returned(active, result)

    return wrapper


# The two generator wrappers are one loop written twice: ``await`` and ``yield from`` do not mix.
def _wrap_generator(func: Callable[P, Generator[Any, Any, Any]], spec: StageSpec) -> Callable[P, Any]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Generator[Any, Any, Any]:
        active = start_stage(spec)  # runs on the first next(): the span covers iteration, not creation
        gen = func(*args, **kwargs)
        if active is None:
            return (yield from gen)
        step: Callable[[Any], Any] = gen.send
        value: Any = None
        while True:
            try:
                item = advance(active, step, value)
            except StopIteration as stop:
                return stop.value
            try:
                value = yield item
                step = gen.send
            except GeneratorExit:
                close_under(active, gen.close)
                raise
            except BaseException as exc:  # thrown in by the consumer: deliver it to the real generator
                step, value = gen.throw, exc

    return wrapper


def _wrap_async_generator(func: Callable[P, AsyncGenerator[Any, Any]], spec: StageSpec) -> Callable[P, Any]:
    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> AsyncGenerator[Any, Any]:
        active = start_stage(spec)
        agen = func(*args, **kwargs)
        if active is None:
            async for item in agen:
                yield item
            return
        step: Callable[[Any], Any] = agen.asend
        value: Any = None
        while True:
            try:
                item = await aadvance(active, step, value)
            except StopAsyncIteration:
                return
            try:
                value = yield item
                step = agen.asend
            except GeneratorExit:
                await aclose_under(active, agen.aclose)
                raise
            except BaseException as exc:
                step, value = agen.athrow, exc

    return wrapper
