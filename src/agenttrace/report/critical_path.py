"""The critical path of a trace: the chain of work that determined when the request ended.

The method of Jaeger UI's ``TracePage/CriticalPath``: start at the root's end and walk back in time; at each
point the span on the path is the child that finished last before that point (recursing into it), and where
no child is running the parent's own work is on the path. Parallel children therefore count once: only the
one the parent waited for longest is on the path. Children are first clipped to their parent's interval
(a child ending after its parent cannot have delayed it).

Pure functions over plain tuples, so they are tested on hand-drawn traces and run per trace on the rows the
report reads from the store.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class SpanTiming:
    """The part of a span the critical path needs."""

    span_id: str
    parent_span_id: str | None
    start_ns: int
    end_ns: int


@dataclass(frozen=True)
class Section:
    """``span_id`` was on the critical path from ``start_ns`` to ``end_ns``."""

    span_id: str
    start_ns: int
    end_ns: int


def critical_path(spans: Iterable[SpanTiming], root_id: str) -> list[Section]:
    """The critical path below ``root_id``, latest section first.

    Args:
        spans: Spans of the trace (others than ``root_id``'s subtree are ignored).
        root_id: The span whose end the path explains (a request span).

    Returns:
        Sections that tile the root's interval without overlap, from its end back to its start; empty when
        ``root_id`` is not among ``spans``.
    """
    by_id = {span.span_id: span for span in spans}
    root = by_id.get(root_id)
    if root is None:
        return []
    children: dict[str, list[SpanTiming]] = defaultdict(list)
    for span in by_id.values():
        if span.parent_span_id is not None and span.span_id != root_id:
            children[span.parent_span_id].append(span)
    path: list[Section] = []
    _walk(root, root.start_ns, root.end_ns, children, path, depth=0)
    return path


# Deeper than this, a "tree" is a cycle of bad parent ids; stop there rather than recurse forever.
_MAX_DEPTH = 200


def _walk(
    span: SpanTiming,
    lower: int,
    upper: int,
    children: Mapping[str, list[SpanTiming]],
    path: list[Section],
    depth: int,
) -> None:
    """Append the path through ``span`` over ``[lower, upper]`` (its interval clipped by its ancestors)."""
    clipped = [
        (max(child.start_ns, lower), min(child.end_ns, upper), child) for child in children.get(span.span_id, ())
    ]
    clipped = [item for item in clipped if item[1] > item[0]]  # nothing of it inside the parent: not waited for
    # Latest-ending first: the child the parent waited for last.
    clipped.sort(key=lambda item: (item[1], item[0]), reverse=True)
    cursor = upper
    for start, end, child in clipped:
        if cursor <= lower:
            break
        if end > cursor or start >= cursor:
            continue  # overlaps the part of the path already explained: ran in parallel, not waited for
        if end < cursor:
            path.append(Section(span.span_id, end, cursor))
        if depth < _MAX_DEPTH:
            _walk(child, start, end, children, path, depth + 1)
        else:
            path.append(Section(child.span_id, start, end))
        cursor = start
    if cursor > lower:
        path.append(Section(span.span_id, lower, cursor))


def time_on_path(sections: Iterable[Section], label: Mapping[str, str | None]) -> dict[str | None, int]:
    """Nanoseconds on the path per label (``label[span_id]``, e.g. the span's stage; ``None`` if absent)."""
    totals: dict[str | None, int] = defaultdict(int)
    for section in sections:
        totals[label.get(section.span_id)] += section.end_ns - section.start_ns
    return dict(totals)


def owning_stage(spans: Iterable[SpanTiming], stage_of: Mapping[str, str]) -> dict[str, str | None]:
    """Each span's stage: its own, else its nearest stage ancestor's (an HTTP client span inside ``llm_call``)."""
    parent_of = {span.span_id: span.parent_span_id for span in spans}
    owner: dict[str, str | None] = dict(stage_of)
    for span_id in parent_of:
        chain: list[str] = []
        current: str | None = span_id
        while current is not None and current not in owner and current in parent_of and len(chain) <= _MAX_DEPTH:
            chain.append(current)
            current = parent_of[current]
        found = owner.get(current) if current is not None else None
        for visited in chain:
            owner[visited] = found
    return owner
