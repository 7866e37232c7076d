"""``LiveRoute``: answers are reused until recomputing fits the duty cycle; failures are not cached."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from agenttrace.collector._live_route import MAX_DUTY, MIN_AGE_S, LiveRoute


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_reuse_until_the_duty_cycle_allows_a_new_answer() -> None:
    clock = Clock()
    calls: list[dict[str, list[str]]] = []

    def compute(reader: Any, query: dict[str, list[str]]) -> dict[str, Any]:
        calls.append(query)
        clock.now += 0.5  # this computation costs 0.5 s
        return {"n": len(calls)}

    route = LiveRoute(compute, clock)
    wait = 0.5 / MAX_DUTY
    assert route(None, {"run": ["a"]}) == {"n": 1, "cost_s": 0.5, "next_in_s": wait, "age_s": 0.0}
    clock.now += wait - 0.01
    assert route(None, {"run": ["a"]})["n"] == 1  # still fresh
    assert route(None, {"run": ["b"]})["n"] == 2  # another query: computed
    assert route(None, {"run": ["a"]})["n"] == 3  # the cache holds one answer only
    clock.now += wait
    assert route(None, {"run": ["a"]})["n"] == 4
    assert len(calls) == 4


def test_cheap_answers_live_at_least_min_age() -> None:
    clock = Clock()
    route = LiveRoute(lambda reader, query: {"at": clock.now}, clock)
    assert route(None, {})["at"] == 100.0
    clock.now += MIN_AGE_S - 0.001
    assert route(None, {}) == {"at": 100.0, "cost_s": 0.0, "next_in_s": MIN_AGE_S, "age_s": round(MIN_AGE_S - 0.001, 3)}
    clock.now += 0.001
    assert route(None, {})["at"] == 100.0 + MIN_AGE_S


def test_failures_are_not_cached() -> None:
    outcomes: list[Any] = [ValueError("bad slo"), {"ok": True}]

    def compute(reader: Any, query: dict[str, list[str]]) -> dict[str, Any]:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return dict(outcome)

    route = LiveRoute(compute, Clock())
    with pytest.raises(ValueError, match="bad slo"):
        route(None, {})
    assert route(None, {})["ok"] is True


def test_concurrent_polls_share_one_computation() -> None:
    entered = threading.Event()
    release = threading.Event()
    calls = []

    def compute(reader: Any, query: dict[str, list[str]]) -> dict[str, Any]:
        calls.append(1)
        entered.set()
        assert release.wait(10)
        return {"n": len(calls)}

    route = LiveRoute(compute)
    answers: list[dict[str, Any]] = []
    first = threading.Thread(target=lambda: answers.append(route(None, {})))
    first.start()
    assert entered.wait(10)
    others = [threading.Thread(target=lambda: answers.append(route(None, {}))) for _ in range(3)]
    for thread in others:
        thread.start()
    release.set()
    for thread in [first, *others]:
        thread.join(10)
    assert [answer["n"] for answer in answers] == [1, 1, 1, 1]
    assert calls == [1]
