"""Read the JSON form back into a :class:`Report` (a report built by a running collector, a saved file)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agenttrace.report.model import (
    Bottleneck,
    Concurrency,
    Costs,
    Distribution,
    Goodput,
    GroupStats,
    Report,
    RequestRef,
    RunOverview,
    StageSeries,
    StageStats,
    Timeseries,
)


@dataclass(frozen=True)
class SavedSaturation:
    """A saturation section read from JSON: kept as it was, with its bottleneck."""

    data: dict[str, Any]
    bottleneck: Bottleneck

    def to_json(self) -> dict[str, Any]:
        """The section as read."""
        return self.data


def report_from_json(data: dict[str, Any]) -> Report:
    """The report of a JSON form (``render_json.to_json``).

    Raises:
        ValueError: Not a report of schema version 1 (the message says what is wrong).
    """
    if not isinstance(data, dict) or data.get("schema_version") != 1:
        version = data.get("schema_version") if isinstance(data, dict) else None
        raise ValueError(f"not an agenttrace report of schema version 1 (schema_version: {version!r})")
    try:
        return _report(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed agenttrace report: {exc!r}") from None


def _report(data: dict[str, Any]) -> Report:
    concurrency = data["concurrency"]
    overview = RunOverview(
        run_id=data["run_id"],
        requests=data["requests"],
        wall_s=data["wall_s"],
        requests_per_s=data["requests_per_s"],
        errors=data["errors"],
        error_rate=data["error_rate"],
        rate_limited=data["rate_limited"],
        first_ns=data.get("first_ns"),
        last_ns=data.get("last_ns"),
        concurrency=Concurrency(
            concurrency["mean"], concurrency["max"], [(float(t), int(n)) for t, n in concurrency["timeline"]]
        ),
    )
    costs = data["costs"]
    bottleneck = Bottleneck(**data["bottleneck"])
    saturation = data.get("saturation")
    return Report(
        run_id=data["run_id"],
        generated_at=data["generated_at"],
        source=data["source"],
        overview=overview,
        goodput=[Goodput(**item) for item in data["goodput"]],
        scenarios=[_group(item, "scenario") for item in data["scenarios"]],
        routes=[_group(item, "route") for item in data["routes"]],
        stages=[StageStats(**item) for item in data["stages"]],
        costs=Costs(
            llm_calls_per_request=Distribution(**costs["llm_calls_per_request"]),
            tool_calls_per_request=Distribution(**costs["tool_calls_per_request"]),
            input_tokens_per_request=Distribution(**costs["input_tokens_per_request"]),
            output_tokens_per_request=Distribution(**costs["output_tokens_per_request"]),
            model_retries=costs["model_retries"],
            model_429s=costs["model_429s"],
        ),
        saturation=SavedSaturation(saturation, bottleneck) if saturation is not None else None,
        bottleneck=bottleneck,
        slowest=[RequestRef(**item) for item in data["slowest"]],
        failed=[RequestRef(**item) for item in data["failed"]],
        critical_path_sampled_requests=data["critical_path_sampled_requests"],
        samples=data.get("samples"),
        timeseries=_timeseries(data.get("timeseries")),
    )


def _group(item: dict[str, Any], key: str) -> GroupStats:
    fields = dict(item)
    return GroupStats(name=fields.pop(key), **fields)


def _timeseries(item: dict[str, Any] | None) -> Timeseries | None:
    """The series of a report (``None`` in reports from before it existed)."""
    if item is None:
        return None
    stages = {name: StageSeries(**series) for name, series in item["stages"].items()}
    return Timeseries(**{**item, "stages": stages})
