from __future__ import annotations

import pytest

from agenttrace.report.critical_path import (
    Section,
    SpanTiming,
    critical_path,
    owning_stage,
    stage_time_on_path,
    time_on_path,
)


def spans(*rows: tuple[str, str | None, int, int]) -> list[SpanTiming]:
    return [SpanTiming(*row) for row in rows]


CASES = {
    "no children: the root alone": (
        spans(("r", None, 0, 10)),
        [("r", 0, 10)],
    ),
    "sequential llm, tool, llm with gaps of the request's own work": (
        spans(("r", None, 0, 10), ("l1", "r", 1, 3), ("t", "r", 3, 5), ("l2", "r", 5, 9)),
        [("r", 9, 10), ("l2", 5, 9), ("t", 3, 5), ("l1", 1, 3), ("r", 0, 1)],
    ),
    "parallel tool calls count once: the one finishing last": (
        spans(("r", None, 0, 10), ("l", "r", 0, 2), ("a", "r", 2, 8), ("b", "r", 2, 6), ("c", "r", 3, 7)),
        [("r", 8, 10), ("a", 2, 8), ("l", 0, 2)],
    ),
    "overlapping children: the earlier one is on the path only before the later started": (
        spans(("r", None, 0, 10), ("a", "r", 0, 6), ("b", "r", 4, 10)),
        [("b", 4, 10), ("r", 0, 4)],
    ),
    "nested: the path goes into the last child's children": (
        spans(("r", None, 0, 10), ("agent", "r", 1, 9), ("l", "agent", 2, 4), ("t", "agent", 4, 8)),
        [("r", 9, 10), ("agent", 8, 9), ("t", 4, 8), ("l", 2, 4), ("agent", 1, 2), ("r", 0, 1)],
    ),
    "a child running past its parent's end is clipped to it": (
        spans(("r", None, 0, 10), ("late", "r", 6, 15)),
        [("late", 6, 10), ("r", 0, 6)],
    ),
    "a child entirely outside its parent is not on the path": (
        spans(("r", None, 0, 10), ("after", "r", 11, 15)),
        [("r", 0, 10)],
    ),
    "zero-length children do not loop": (
        spans(("r", None, 0, 10), ("z", "r", 5, 5), ("y", "r", 10, 10)),
        [("r", 0, 10)],
    ),
    "spans outside the root's subtree are ignored": (
        spans(("client", None, 0, 20), ("r", "client", 2, 12), ("x", "client", 12, 20), ("l", "r", 3, 5)),
        [("r", 5, 12), ("l", 3, 5), ("r", 2, 3)],
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_critical_path(case: str) -> None:
    trace, expected = CASES[case]
    root = "r"
    assert critical_path(trace, root) == [Section(*section) for section in expected]


def test_sections_tile_the_root() -> None:
    trace, _ = CASES["nested: the path goes into the last child's children"]
    path = critical_path(trace, "r")
    assert sum(s.end_ns - s.start_ns for s in path) == 10
    assert [(a.start_ns == b.end_ns) for a, b in zip(path, path[1:], strict=False)] == [True] * (len(path) - 1)


def test_unknown_root_is_empty() -> None:
    assert critical_path(spans(("r", None, 0, 1)), "nope") == []


def test_parent_cycle_terminates() -> None:
    trace = spans(("r", None, 0, 10), ("a", "b", 1, 9), ("b", "a", 2, 8))
    assert critical_path(trace, "r") == [Section("r", 0, 10)]


def test_owning_stage_and_time_per_stage() -> None:
    trace = spans(
        ("client", None, 0, 20),
        ("r", "client", 0, 10),
        ("agent", "r", 1, 9),
        ("http", "agent", 2, 4),
        ("t", "agent", 4, 8),
    )
    owner = owning_stage(trace, {"agent": "agent", "t": "execute_tool"})
    assert owner == {
        "client": None,
        "r": None,
        "agent": "agent",
        "http": "agent",
        "t": "execute_tool",
    }
    assert time_on_path(critical_path(trace, "r"), owner) == {None: 2, "agent": 4, "execute_tool": 4}


def test_stage_time_on_path_counts_unstaged_spans_for_their_stage() -> None:
    trace = [
        ("client", None, 0, 20, None),
        ("r", "client", 0, 10, None),
        ("agent", "r", 1, 9, "agent"),
        ("http", "agent", 2, 4, None),
        ("t", "agent", 4, 8, "execute_tool"),
    ]
    assert stage_time_on_path(trace, "r") == {None: 2, "agent": 4, "execute_tool": 4}
    assert stage_time_on_path(trace, "nope") == {}
