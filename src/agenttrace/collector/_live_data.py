"""What the live page reads besides the runs and the report: one trace's spans, and a run's series over time.

``GET /api/v1/traces/{trace_id}`` answers every span of a trace (at most ``MAX_TRACE_SPANS``) with all its
attributes: the ones the store keeps in columns put back under their OpenTelemetry names, plus the rest
decoded from ``otlp_rest``. ``GET /api/v1/timeseries?run=ID`` answers, per time step of the run, completed
requests, errors and request latency percentiles, and per stage its calls and p95 latency (bucketed by end
time: a span reaches the store when it ends, so the newest step is not biased towards short requests).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from agenttrace.store._reader import SpanStore
from agenttrace.store._rows import EXTRACTED

#: A trace's spans beyond this are left out (``truncated`` says so): the page draws each one.
MAX_TRACE_SPANS = 5000
#: Time steps of a series at most; the step grows with the run (0.1 s at least).
MAX_STEPS = 150
_STEPS_S = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_REQUEST = "(kind = 'SERVER' OR llm_calls IS NOT NULL)"  # report.data.REQUEST_FILTER; the report extra is optional
_ERROR = "(status_code = 'ERROR' OR coalesce(http_status_code, 0) >= 500)"
_COLUMNS = {column: attribute for attribute, (column, _) in EXTRACTED.items()}
_FIXED: tuple[str, ...] = ("trace_id", "span_id", "parent_span_id", "name", "kind", "start_ns", "end_ns")
_FIXED += ("status_code", "status_message", "service_name", "scope_name", "resource_attributes", "otlp_rest")


class BadRequest(ValueError):
    """A malformed query (answered 400)."""


class NotFound(LookupError):
    """Nothing stored for the query (answered 404)."""


def trace_json(reader: SpanStore, trace_id: str) -> dict[str, Any]:
    """Every span of a trace, oldest first, with all its attributes.

    Raises:
        BadRequest: ``trace_id`` is not 32 lowercase hex digits.
        NotFound: No span of that trace is stored.
    """
    if not _TRACE_ID.fullmatch(trace_id):
        raise BadRequest(f"a trace id is 32 lowercase hex digits, got {trace_id[:64]!r}")
    names = (*_FIXED, *_COLUMNS)
    rows = reader.query(
        f"SELECT {', '.join(names)} FROM spans WHERE trace_id = ? ORDER BY start_ns, span_id LIMIT ?",
        [trace_id, MAX_TRACE_SPANS + 1],
    )
    if not rows:
        raise NotFound(f"no spans of trace {trace_id} in the span store")
    spans = [_span(dict(zip(names, row, strict=True))) for row in rows[:MAX_TRACE_SPANS]]
    return {"trace_id": trace_id, "spans": spans, "truncated": len(rows) > MAX_TRACE_SPANS}


def _span(row: dict[str, Any]) -> dict[str, Any]:
    rest = SpanStore.decode_otlp(row["otlp_rest"])
    attributes = {_COLUMNS[column]: row[column] for column in _COLUMNS if row[column] is not None}
    attributes.update(rest["attributes"])
    return {
        "span_id": row["span_id"],
        "parent_span_id": row["parent_span_id"],
        "name": row["name"],
        "kind": row["kind"],
        "start_ns": row["start_ns"],
        "end_ns": row["end_ns"],
        "status_code": row["status_code"],
        "status_message": row["status_message"],
        "stage": row["stage"],
        "service_name": row["service_name"],
        "scope_name": row["scope_name"],
        "attributes": dict(sorted(attributes.items())),
        "resource_attributes": json.loads(row["resource_attributes"]) if row["resource_attributes"] else {},
        "events": rest["events"],
    }


def timeseries_json(reader: SpanStore, query: dict[str, list[str]]) -> dict[str, Any]:
    """A run's requests and stages per time step (``run``: the run, else the run whose last span ended last).

    Raises:
        NotFound: The run has no request spans (or the store is empty).
    """
    if "run" in query:
        run_id: str | None = query["run"][-1]
    else:
        latest = reader.query("SELECT run_id FROM spans GROUP BY run_id ORDER BY max(end_ns) DESC LIMIT 1")
        if not latest:
            raise NotFound("the span store is empty")
        run_id = latest[0][0]
    return run_series(reader, run_id)


def run_series(reader: SpanStore, run_id: str | None) -> dict[str, Any]:
    """``timeseries_json`` of the run ``run_id`` (``None``: the spans without a run id).

    Raises:
        NotFound: The run has no request spans.
    """
    where = "run_id IS NOT DISTINCT FROM ?"
    first, last = reader.query(f"SELECT min(start_ns), max(end_ns) FROM spans WHERE {where} AND {_REQUEST}", [run_id])[
        0
    ]
    if first is None:
        raise NotFound(f"no requests of the run {run_id!r} in the span store")
    wall_s = max((last - first) / 1e9, 0.0)
    step_s = next((step for step in _STEPS_S if wall_s / step <= MAX_STEPS), math.ceil(wall_s / MAX_STEPS))
    step_ns = round(step_s * 1e9)
    bucket = f"(end_ns - {int(first)}) // {step_ns}"
    requests = reader.query(
        f"""SELECT {bucket} AS b, count(*), count(*) FILTER (WHERE {_ERROR} AND coalesce(http_status_code, 0) <> 429),
            quantile_cont(duration_ns, 0.5) / 1e6, quantile_cont(duration_ns, 0.95) / 1e6
        FROM spans WHERE {where} AND {_REQUEST} GROUP BY b ORDER BY b""",
        [run_id],
    )
    stages: dict[str, list[list[Any]]] = {}
    for name, b, calls, p95 in reader.query(
        f"""SELECT stage, {bucket} AS b, count(*), quantile_cont(duration_ns, 0.95) / 1e6
        FROM spans WHERE {where} AND stage IS NOT NULL GROUP BY stage, b ORDER BY stage, b""",
        [run_id],
    ):
        stages.setdefault(name, []).append([_round(b * step_s), calls, _round(p95)])
    return {
        "run_id": run_id,
        "first_ns": first,
        "step_s": step_s,
        # [seconds since the first request's start, completed, failed, p50 ms, p95 ms] per step with requests.
        "requests": [[_round(b * step_s), n, failed, _round(p50), _round(p95)] for b, n, failed, p50, p95 in requests],
        # stage -> [seconds, calls, p95 ms] per step with calls.
        "stages": stages,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
