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
from typing import NamedTuple


class SpanTiming(NamedTuple):
    """The part of a span the critical path needs (any 4-tuple in this order will do)."""

    span_id: str
    parent_span_id: str | None
    start_ns: int
    end_ns: int


class Section(NamedTuple):
    """``span_id`` was on the critical path from ``start_ns`` to ``end_ns``."""

    span_id: str
    start_ns: int
    end_ns: int


Timing = tuple[str, "str | None", int, int]


def critical_path(spans: Iterable[Timing], root_id: str) -> list[Section]:
    """The critical path below ``root_id``, latest section first.

    Args:
        spans: Spans of the trace as ``(span_id, parent_span_id, start_ns, end_ns)`` (a ``SpanTiming`` or any
            such tuple); those outside ``root_id``'s subtree are ignored.
        root_id: The span whose end the path explains (a request span).

    Returns:
        Sections that tile the root's interval without overlap, from its end back to its start; empty when
        ``root_id`` is not among ``spans``.
    """
    root: Timing | None = None
    children: dict[str, list[Timing]] = defaultdict(list)
    for span in spans:
        if span[0] == root_id:
            root = span
        elif span[1] is not None:
            children[span[1]].append(span)
    if root is None:
        return []
    path: list[Section] = []
    _walk(root, root[2], root[3], children, path, depth=0)
    return path


# Deeper than this, a "tree" is a cycle of bad parent ids; stop there rather than recurse forever.
_MAX_DEPTH = 200


def _walk(
    span: Timing,
    lower: int,
    upper: int,
    children: Mapping[str, list[Timing]],
    path: list[Section],
    depth: int,
) -> None:
    """Append the path through ``span`` over ``[lower, upper]`` (its interval clipped by its ancestors)."""
    span_id = span[0]
    kids = children.get(span_id)
    cursor = upper
    if kids:
        # Clipped to the parent; nothing of it inside the parent: not waited for. Latest-ending first.
        clipped = [(min(k[3], upper), max(k[2], lower), k) for k in kids]
        clipped = sorted((item for item in clipped if item[0] > item[1]), reverse=True)
        for end, start, child in clipped:
            if cursor <= lower:
                break
            if end > cursor or start >= cursor:
                continue  # overlaps the part of the path already explained: ran in parallel, not waited for
            if end < cursor:
                path.append(Section(span_id, end, cursor))
            if depth < _MAX_DEPTH:
                _walk(child, start, end, children, path, depth + 1)
            else:
                path.append(Section(child[0], start, end))
            cursor = start
    if cursor > lower:
        path.append(Section(span_id, lower, cursor))


def time_on_path(sections: Iterable[Section], label: Mapping[str, str | None]) -> dict[str | None, int]:
    """Nanoseconds on the path per label (``label[span_id]``, e.g. the span's stage; ``None`` if absent)."""
    totals: dict[str | None, int] = defaultdict(int)
    for section in sections:
        totals[label.get(section.span_id)] += section.end_ns - section.start_ns
    return dict(totals)


def owning_stage(spans: Iterable[Timing], stage_of: Mapping[str, str]) -> dict[str, str | None]:
    """Each span's stage: its own, else its nearest stage ancestor's (an HTTP client span inside ``llm_call``)."""
    parent_of = {span[0]: span[1] for span in spans}
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


def stage_time_on_path(
    spans: list[tuple[str, str | None, int, int, str | None]], root_id: str
) -> dict[str | None, int]:
    """Nanoseconds of ``root_id``'s critical path per stage, for spans ``(span_id, parent, start, end, stage)``.

    A section of a span without a stage counts for its nearest stage ancestor (``None``: the request's own work).
    """
    totals: dict[str | None, int] = {}
    if not _add_stage_time(spans, root_id, totals):
        return _stage_time_on_path_by_sections(spans, root_id)
    return totals


# The report runs this per request on thousands of requests, so it walks the tree once, labelling as it goes,
# without building the sections: the same path and sums as ``critical_path`` + the label walk of
# ``_stage_time_on_path_by_sections`` on a tree, about 3x faster. What is not a plain tree (duplicate span ids,
# a path deeper than this) goes the general way.
_FAST_DEPTH = 100


def _add_stage_time(
    spans: list[tuple[str, str | None, int, int, str | None]], root_id: str, totals: dict[str | None, int]
) -> bool:
    """Add ``root_id``'s path time per stage to ``totals``; false (``totals`` unusable) if not a plain tree."""
    root: tuple[str, str | None, int, int, str | None] | None = None
    children: dict[str, list[tuple[str, str | None, int, int, str | None]]] = {}
    stage_of: dict[str, str | None] = {}
    for span in spans:
        span_id = span[0]
        if span_id in stage_of:
            return False
        stage_of[span_id] = span[4]
        if span_id == root_id:
            root = span
        elif span[1] is not None:
            kids = children.get(span[1])
            if kids is None:
                children[span[1]] = [span]
            else:
                kids.append(span)
    if root is None:
        return True
    return _walk_stages(root_id, root[2], root[3], None, children, stage_of, totals, 0)


def _walk_stages(
    span_id: str,
    lower: int,
    upper: int,
    label: str | None,
    children: Mapping[str, list[tuple[str, str | None, int, int, str | None]]],
    stage_of: Mapping[str, str | None],
    totals: dict[str | None, int],
    depth: int,
) -> bool:
    """``_walk`` adding each section's time to its label's total (``label``: the nearest stage at or above)."""
    kids = children.get(span_id)
    cursor = upper
    if kids:
        # As ``_walk``: clipped to the parent, latest-ending first (ties: later start, then larger span id).
        clipped = sorted(
            [(upper if k[3] > upper else k[3], lower if k[2] < lower else k[2], k[0]) for k in kids], reverse=True
        )
        for end, start, child in clipped:
            if cursor <= lower:
                break
            if end <= start or end > cursor or start >= cursor:
                continue
            if end < cursor:
                totals[label] = totals.get(label, 0) + cursor - end
            stage = stage_of[child]
            child_label = label if stage is None else stage
            if child in children:
                if depth >= _FAST_DEPTH or child == span_id:
                    return False
                if not _walk_stages(child, start, end, child_label, children, stage_of, totals, depth + 1):
                    return False
            else:
                totals[child_label] = totals.get(child_label, 0) + end - start
            cursor = start
    if cursor > lower:
        totals[label] = totals.get(label, 0) + cursor - lower
    return True


def _stage_time_on_path_by_sections(
    spans: list[tuple[str, str | None, int, int, str | None]], root_id: str
) -> dict[str | None, int]:
    """``stage_time_on_path`` from the sections of ``critical_path``: any input (cycles, duplicate ids)."""
    path = critical_path([span[:4] for span in spans], root_id)
    by_id = {span[0]: span for span in spans}
    totals: dict[str | None, int] = defaultdict(int)
    for section in path:
        current: str | None = section.span_id
        stage: str | None = None
        for _ in range(_MAX_DEPTH):
            span = by_id.get(current) if current is not None else None
            if span is None or current == root_id:
                break
            if span[4] is not None:
                stage = span[4]
                break
            current = span[1]
        totals[stage] += section.end_ns - section.start_ns
    return dict(totals)
