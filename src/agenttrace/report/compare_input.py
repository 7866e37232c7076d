"""Where the two runs of a comparison come from: a JSON report file, or a run id in a span store.

Either way the result is a :class:`~agenttrace.report.compare.Profile`: a label and the run's samples
(:mod:`agenttrace.report.samples`). A JSON report must be ``schema_version`` 1 and carry ``"samples"``;
anything else is a :class:`~agenttrace.report.compare.CompareError` with a one-line message.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agenttrace.report.compare import CompareError, Profile

__all__ = ["Profile", "StoreRun", "check_samples", "load_report", "profile_from_store"]
from agenttrace.report.samples import DEFAULT_CAP, REQUEST_FIELDS, samples

#: The JSON report version this comparison reads.
REPORT_SCHEMA_VERSION = 1


def load_report(path: Path) -> Profile:
    """The profile in a JSON report file (``agenttrace report --format json``).

    Raises:
        CompareError: The file cannot be read, is not JSON, is of another schema version, or has no valid
            samples.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CompareError(f"cannot read {path}: {reason}") from None
    try:
        report = json.loads(text)
    except ValueError as exc:
        raise CompareError(f"{path} is not a JSON report: {exc}") from None
    if not isinstance(report, dict):
        raise CompareError(f"{path} is not a JSON report: the top level is not an object")
    version = report.get("schema_version")
    if version != REPORT_SCHEMA_VERSION:
        raise CompareError(
            f"{path} is a report of schema version {version}; this agenttrace reads version {REPORT_SCHEMA_VERSION}"
        )
    if report.get("samples") is None:
        raise CompareError(f"{path} has no samples to compare")
    run_id = report.get("run_id")
    label = run_id if isinstance(run_id, str) and run_id else path.name
    return Profile(label, check_samples(report["samples"], str(path)))


def profile_from_store(store: Any, run_id: str, cap: int = DEFAULT_CAP) -> Profile:
    """The profile of run ``run_id`` in an open :class:`~agenttrace.store.SpanStore`.

    Raises:
        CompareError: The store has no requests of that run.
    """
    run = StoreRun(store, run_id)
    profile = Profile(run_id, samples(run, cap))
    if profile.samples["requests"]["total"] == 0:
        spans = run.sql("SELECT count(*) FROM run_spans")[0][0]
        if spans == 0:
            raise CompareError(f"no run {run_id!r} in {store.path} (agenttrace runs lists them)")
        raise CompareError(f"run {run_id!r} in {store.path} has no request spans")
    return profile


class StoreRun:
    """One run of a :class:`~agenttrace.store.SpanStore` as the view ``run_spans`` (see ``samples.RunSql``)."""

    def __init__(self, store: Any, run_id: str) -> None:
        self._store = store
        literal = run_id.replace("'", "''")  # a view cannot take parameters
        store.query(f"CREATE OR REPLACE TEMP VIEW run_spans AS SELECT * FROM spans WHERE run_id = '{literal}'")

    def sql(self, query: str, params: Sequence[object] | None = None) -> list[tuple[Any, ...]]:
        """Run ``query`` on the run's spans."""
        rows: list[tuple[Any, ...]] = self._store.query(query, params)
        return rows


def check_samples(value: Any, source: str) -> dict[str, Any]:
    """``value`` if it has the samples form (``samples`` module docstring), else a :class:`CompareError`."""

    def fail(where: str, what: str) -> CompareError:
        return CompareError(f"{source}: samples{where} is not {what}")

    if not isinstance(value, dict):
        raise fail("", "an object")
    requests = value.get("requests")
    if not isinstance(requests, dict):
        raise fail(".requests", "an object")
    lengths = set()
    for field in REQUEST_FIELDS:
        _numbers(requests.get(field), fail(f".requests.{field}", "a list of numbers"))
        lengths.add(len(requests[field]))
    if len(lengths) > 1:
        raise fail(".requests", "lists of one length")
    if not isinstance(requests.get("total"), int):
        raise fail(".requests.total", "an integer")
    stages = value.get("stages")
    if not isinstance(stages, dict):
        raise fail(".stages", "an object")
    for stage, entry in stages.items():
        if not isinstance(entry, dict):
            raise fail(f".stages.{stage}", "an object")
        _numbers(entry.get("duration_ms"), fail(f".stages.{stage}.duration_ms", "a list of numbers"))
    return value


def _numbers(value: Any, error: CompareError) -> None:
    if not isinstance(value, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and v == v for v in value
    ):
        raise error
