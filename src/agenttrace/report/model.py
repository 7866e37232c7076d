"""The report's data model: what one load run comes to, independent of how it is shown.

Every analysis fills these dataclasses; every renderer (table, JSON, markdown) only formats them. Times are
milliseconds (``*_ms``) or seconds (``*_s``); percentiles are DuckDB's ``quantile_cont`` (linear
interpolation between the two nearest ranks); a figure that cannot be computed (no data) is ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

#: Version of the JSON form (``render_json``); bumped on any incompatible change.
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Distribution:
    """A per-request count (LLM calls, tokens...): agents amplify unevenly, so more than the mean."""

    mean: float | None
    p50: float | None
    p95: float | None
    max: float | None


@dataclass(frozen=True)
class Concurrency:
    """In-flight requests (started and not yet ended) over the run."""

    mean: float | None
    max: int
    #: ``(seconds since the run's first request, in-flight requests)`` at each change, thinned to a bounded count.
    timeline: list[tuple[float, int]] = field(default_factory=list)


@dataclass(frozen=True)
class RunOverview:
    """The run as a whole."""

    run_id: str | None
    requests: int
    wall_s: float
    requests_per_s: float | None
    #: Failed requests: span status ERROR or an HTTP status >= 500 (429s are not errors: see ``rate_limited``).
    errors: int
    error_rate: float | None
    #: Requests answered 429 Too Many Requests.
    rate_limited: int
    first_ns: int | None
    last_ns: int | None
    concurrency: Concurrency


@dataclass(frozen=True)
class Goodput:
    """Requests meeting one service-level objective (``latency<2s``): count, share of requests, rate."""

    slo: str
    met: int
    share: float | None
    per_s: float | None


@dataclass(frozen=True)
class GroupStats:
    """Requests of one scenario or one route."""

    name: str | None
    requests: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    #: Time to first byte (requests whose response had a body), percentiles.
    ttfb_p50_ms: float | None
    ttfb_p95_ms: float | None
    errors: int
    rate_limited: int


@dataclass(frozen=True)
class StageStats:
    """One stage (``agenttrace.stage``) over the run."""

    stage: str
    calls: int
    calls_per_request: float | None
    calls_per_request_p50: float | None
    calls_per_request_max: int | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    #: p95 of the stage's self time: its duration minus the union of its child stage spans.
    self_p95_ms: float | None
    #: p95 over requests of the stage's summed time per request.
    per_request_p95_ms: float | None
    #: Share of the requests' critical-path time spent in this stage (self time on the path), 0..1.
    critical_path_share: float | None
    input_tokens_per_request: float | None
    output_tokens_per_request: float | None
    errors: int
    rate_limited: int


@dataclass(frozen=True)
class Costs:
    """What a request costs in model and tool calls and tokens."""

    llm_calls_per_request: Distribution
    tool_calls_per_request: Distribution
    input_tokens_per_request: Distribution
    output_tokens_per_request: Distribution
    #: LLM stage spans beyond the first of their kind retried within one parent (attempts that failed).
    model_retries: int
    #: LLM stage spans rate-limited by the model provider (error.type 429 / RateLimitError, or HTTP 429).
    model_429s: int


@dataclass(frozen=True)
class RequestRef:
    """One request worth looking at (slowest or failed), with its trace id."""

    trace_id: str
    span_id: str
    name: str
    scenario: str | None
    route: str | None
    start_ns: int
    duration_ms: float
    http_status_code: int | None
    error: str | None
    #: The Jaeger UI link when ``--jaeger-ui`` is given.
    url: str | None = None


@dataclass(frozen=True)
class Bottleneck:
    """What limits the run: a ``stage``, the ``process`` itself (queueing), or ``none`` found."""

    kind: str
    stage: str | None
    reason: str


@dataclass(frozen=True)
class StageSeries:
    """One stage's call durations per time bucket (``None``: no call started in the bucket)."""

    p50_ms: list[float | None]
    p95_ms: list[float | None]


@dataclass(frozen=True)
class Timeseries:
    """The run in equal time buckets; a request or stage call counts in the bucket in which it started.

    Bucket ``i`` covers ``t_s[i]`` to ``t_s[i] + bucket_s`` seconds after the run's first request started; the
    buckets cover the run (first request start to last request end) exactly.
    """

    bucket_s: float
    t_s: list[float]
    #: Requests started per second.
    requests_per_s: list[float]
    #: Mean in-flight requests (time-weighted over the bucket).
    in_flight: list[float]
    #: Failed requests (as ``RunOverview.errors``) started in the bucket.
    errors: list[int]
    #: Requests answered 429 started in the bucket.
    rate_limited: list[int]
    #: The stages with the most total time (at most ``series.MAX_STAGES``), most first.
    stages: dict[str, StageSeries] = field(default_factory=dict)


class SaturationResult(Protocol):
    """What the report needs from the saturation analysis (``report.saturation.analyse_saturation``)."""

    @property
    def bottleneck(self) -> Any:
        """An object with ``kind``, ``stage`` and ``reason``."""

    def to_json(self) -> dict[str, Any]:
        """The JSON form (``saturation`` in the report)."""


@dataclass(frozen=True)
class Report:
    """One load run's report."""

    run_id: str | None
    generated_at: str
    source: str
    overview: RunOverview
    goodput: list[Goodput]
    scenarios: list[GroupStats]
    routes: list[GroupStats]
    stages: list[StageStats]
    costs: Costs
    saturation: SaturationResult | None
    bottleneck: Bottleneck
    slowest: list[RequestRef]
    failed: list[RequestRef]
    #: Requests the critical path was computed on (all of them up to ``CRITICAL_PATH_SAMPLE``).
    critical_path_sampled_requests: int
    samples: dict[str, Any] | None = None
    #: The run over time (``None``: a run of no duration).
    timeseries: Timeseries | None = None
    schema_version: int = SCHEMA_VERSION
