"""The middleware's lifespan pass-through: messages unchanged, span export flushed before shutdown completes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette

from agenttrace import AgentTraceMiddleware


async def run_lifespan(app: Callable[..., Any], on_shutdown_sent: Callable[[], object]) -> list[str]:
    """Drive the ASGI lifespan protocol as a server does; the message types the app sent, and what we saw then."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[str] = []
    for message in ({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}):
        inbox.put_nowait(message)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])
        if message["type"].startswith("lifespan.shutdown."):
            sent.append(f"seen: {on_shutdown_sent()}")

    await asyncio.wait_for(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, send), 30)
    return sent


def provider_with_queue() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))  # only a flush exports
    return provider, exporter


async def test_spans_queued_until_shutdown_are_flushed_before_the_server_is_told() -> None:
    provider, exporter = provider_with_queue()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        yield
        provider.get_tracer("t").start_span("in shutdown handler").end()  # the app's own handlers come first

    app = AgentTraceMiddleware(Starlette(lifespan=lifespan), tracer_provider=provider)
    provider.get_tracer("t").start_span("queued").end()
    sent = await run_lifespan(app, lambda: sorted(s.name for s in exporter.get_finished_spans()))
    assert sent == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
        "seen: ['in shutdown handler', 'queued']",
    ]
    provider.get_tracer("t").start_span("after").end()  # the application's provider is flushed, not shut down
    provider.force_flush()
    assert [s.name for s in exporter.get_finished_spans()][-1] == "after"
    provider.shutdown()


async def test_an_app_without_lifespan_handlers_is_flushed_too() -> None:
    provider, exporter = provider_with_queue()
    app = AgentTraceMiddleware(Starlette(), tracer_provider=provider)
    provider.get_tracer("t").start_span("queued").end()
    sent = await run_lifespan(app, lambda: len(exporter.get_finished_spans()))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete", "seen: 1"]
    provider.shutdown()


async def test_a_failing_shutdown_handler_passes_through_after_the_flush() -> None:
    provider, exporter = provider_with_queue()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        yield
        raise RuntimeError("boom")

    app = AgentTraceMiddleware(Starlette(lifespan=lifespan), tracer_provider=provider)
    provider.get_tracer("t").start_span("queued").end()
    with pytest.raises(RuntimeError, match="boom"):  # the app's own error reaches the server unchanged
        await run_lifespan(app, lambda: len(exporter.get_finished_spans()))
    assert len(exporter.get_finished_spans()) == 1
    provider.shutdown()


async def test_flush_can_be_switched_off() -> None:
    provider, exporter = provider_with_queue()
    app = AgentTraceMiddleware(Starlette(), tracer_provider=provider, flush_on_shutdown=False)
    provider.get_tracer("t").start_span("queued").end()
    sent = await run_lifespan(app, lambda: len(exporter.get_finished_spans()))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete", "seen: 0"]
    provider.shutdown()


class BrokenProvider(TracerProvider):
    @property
    def force_flush(self) -> Any:  # type: ignore[override]
        raise RuntimeError("agenttrace's own failure")


async def test_our_failure_never_reaches_the_server(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    monkeypatch.setenv("AGENTTRACE_RERAISE_INTERNAL_ERRORS", "0")
    provider = BrokenProvider(shutdown_on_exit=False)
    app = AgentTraceMiddleware(Starlette(), tracer_provider=provider)
    sent = await run_lifespan(app, lambda: "ok")
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete", "seen: ok"]
    assert [r.getMessage() for r in caplog.records if r.name == "agenttrace"] == [
        "agenttrace internal error in lifespan shutdown flush; telemetry for this call is skipped"
    ]
