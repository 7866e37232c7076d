"""Our own failures never reach user code; under pytest they surface so we see them."""

from __future__ import annotations

import asyncio
import logging

import pytest

import agenttrace
from agenttrace import _guard as _errors
from agenttrace._instrument import active as _active
from agenttrace.testing import Capture


def broken(*args: object, **kwargs: object) -> None:
    raise RuntimeError("agenttrace bug")


@pytest.fixture
def production_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTTRACE_RERAISE_INTERNAL_ERRORS", "0")
    monkeypatch.setattr(_errors, "_seen", set())  # "logged once" is per process: start afresh


@pytest.mark.usefixtures("production_mode")
def test_failure_while_ending_is_logged_once_and_swallowed(
    agenttrace_capture: Capture, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_active, "usage_from_response", broken)

    @agenttrace.stage("llm_call", model="m")
    def call(n: int) -> dict[str, int]:
        return {"n": n}

    with caplog.at_level(logging.ERROR, logger="agenttrace"):
        assert [call(i) for i in range(3)] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert [r.getMessage() for r in caplog.records] == [
        "agenttrace internal error in stage.end; telemetry for this call is skipped"
    ]
    assert [s["name"] for s in agenttrace_capture.spans()] == ["chat m"] * 3  # the spans still ended


@pytest.mark.usefixtures("production_mode")
async def test_failure_while_starting_falls_back_to_plain_call(
    agenttrace_capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_active, "current_rollup", broken)

    @agenttrace.stage("context_load")
    async def load() -> str:
        return "ctx"

    @agenttrace.stage("retrieval")
    def docs():
        yield 1

    assert await load() == "ctx"
    assert list(docs()) == [1]
    with agenttrace.stage("x") as s:
        s.record_usage(input_tokens=1)
    assert agenttrace_capture.spans() == []


@pytest.mark.usefixtures("production_mode")
def test_user_exception_still_propagates_when_internals_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_active, "error_type", broken)
    err = LookupError("user's own")

    @agenttrace.stage("tool_execution")
    def lookup() -> None:
        raise err

    with pytest.raises(LookupError) as info:
        lookup()
    assert info.value is err


def test_under_pytest_internal_errors_are_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_active, "current_rollup", broken)
    with pytest.raises(RuntimeError, match="agenttrace bug"):
        with agenttrace.stage("x"):
            pass


@pytest.mark.usefixtures("production_mode")
def test_guard_swallows_logs_once_per_site_and_falls_through(caplog: pytest.LogCaptureFixture) -> None:
    def attempt(where: str) -> str:
        with _errors.guard(where):
            raise RuntimeError("agenttrace bug")
        return "fallback"

    with caplog.at_level(logging.ERROR, logger="agenttrace"):
        assert [attempt("site.a"), attempt("site.a"), attempt("site.b")] == ["fallback"] * 3
    assert [(r.getMessage(), r.exc_info[0] if r.exc_info else None) for r in caplog.records] == [
        ("agenttrace internal error in site.a; telemetry for this call is skipped", RuntimeError),
        ("agenttrace internal error in site.b; telemetry for this call is skipped", RuntimeError),
    ]


@pytest.mark.usefixtures("production_mode")
def test_guard_never_stops_cancellation_or_interrupts(caplog: pytest.LogCaptureFixture) -> None:
    for stop in (asyncio.CancelledError(), KeyboardInterrupt(), GeneratorExit()):
        with pytest.raises(type(stop)) as info:
            with _errors.guard("site"):
                raise stop
        assert info.value is stop
    assert caplog.records == []


@pytest.mark.usefixtures("production_mode")
def test_guarded_returns_the_fallback(caplog: pytest.LogCaptureFixture) -> None:
    @_errors.guarded("site.decorated", fallback={})
    def attributes(fail: bool) -> dict[str, int]:
        if fail:
            raise KeyError("agenttrace bug")
        return {"a": 1}

    with caplog.at_level(logging.ERROR, logger="agenttrace"):
        assert (attributes(False), attributes(True)) == ({"a": 1}, {})
    assert [r.getMessage() for r in caplog.records] == [
        "agenttrace internal error in site.decorated; telemetry for this call is skipped"
    ]


def test_under_pytest_the_guard_re_raises() -> None:
    err = RuntimeError("agenttrace bug")
    with pytest.raises(RuntimeError) as info:
        with _errors.guard("site"):
            raise err
    assert info.value is err
