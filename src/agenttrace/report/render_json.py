"""The report as JSON: the stable, versioned form (``schema_version`` 1) other tools and CI read.

Times are milliseconds (``*_ms``) or seconds (``*_s``), shares and rates are fractions (0..1), a figure that
could not be computed is ``null``. Percentiles are DuckDB's ``quantile_cont`` (linear interpolation between
the two nearest ranks). Adding fields is compatible; renaming or removing one bumps ``schema_version``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from agenttrace.report.model import Distribution, GroupStats, Report, RequestRef, StageStats, Timeseries


def to_json(report: Report) -> dict[str, Any]:
    """The report as JSON-compatible values (the form documented in the README)."""
    run = report.overview
    return {
        "schema_version": report.schema_version,
        "run_id": report.run_id,
        "generated_at": report.generated_at,
        "source": report.source,
        "requests": run.requests,
        "requests_per_s": run.requests_per_s,
        "wall_s": run.wall_s,
        "error_rate": run.error_rate,
        "errors": run.errors,
        "rate_limited": run.rate_limited,
        "first_ns": run.first_ns,
        "last_ns": run.last_ns,
        "concurrency": {
            "mean": run.concurrency.mean,
            "max": run.concurrency.max,
            "timeline": [[t, n] for t, n in run.concurrency.timeline],
        },
        "goodput": [dataclasses.asdict(item) for item in report.goodput],
        "scenarios": [_group(item, "scenario") for item in report.scenarios],
        "routes": [_group(item, "route") for item in report.routes],
        "stages": [_stage(item) for item in report.stages],
        "critical_path_sampled_requests": report.critical_path_sampled_requests,
        "costs": {
            "llm_calls_per_request": _distribution(report.costs.llm_calls_per_request),
            "tool_calls_per_request": _distribution(report.costs.tool_calls_per_request),
            "input_tokens_per_request": _distribution(report.costs.input_tokens_per_request),
            "output_tokens_per_request": _distribution(report.costs.output_tokens_per_request),
            "model_retries": report.costs.model_retries,
            "model_429s": report.costs.model_429s,
        },
        "saturation": report.saturation.to_json() if report.saturation is not None else None,
        "bottleneck": dataclasses.asdict(report.bottleneck),
        "slowest": [_request(item) for item in report.slowest],
        "failed": [_request(item) for item in report.failed],
        "samples": report.samples,
        "timeseries": _timeseries(report.timeseries),
    }


def render_json(report: Report) -> str:
    """The JSON text (indented, keys in the documented order, ending with a newline)."""
    return json.dumps(to_json(report), indent=2) + "\n"


def _group(item: GroupStats, key: str) -> dict[str, Any]:
    fields = dataclasses.asdict(item)
    return {key: fields.pop("name"), **fields}


def _stage(item: StageStats) -> dict[str, Any]:
    return dataclasses.asdict(item)


def _distribution(item: Distribution) -> dict[str, float | None]:
    return dataclasses.asdict(item)


def _request(item: RequestRef) -> dict[str, Any]:
    return dataclasses.asdict(item)


def _timeseries(item: Timeseries | None) -> dict[str, Any] | None:
    return None if item is None else dataclasses.asdict(item)
