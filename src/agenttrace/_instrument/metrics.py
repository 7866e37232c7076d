"""Metric instruments: GenAI client metrics, the per-stage and the HTTP server duration histograms.

Only low-cardinality attributes are recorded: stage, route, run id, operation, provider, model and error
type. Instruments are created once per meter provider.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from typing import Any

from opentelemetry import metrics

from agenttrace import _names as sc
from agenttrace._version import __version__

# Bucket boundaries the GenAI conventions advise for these two histograms.
_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
_STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60)
#: Bucket boundaries the HTTP conventions advise, extended for agents whose requests take 5-30 s.
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 15, 30, 60)


class Instruments:
    """The histograms agenttrace records into, bound to one meter provider."""

    def __init__(self, provider: metrics.MeterProvider) -> None:
        meter = provider.get_meter("agenttrace", __version__)
        self.operation_duration = meter.create_histogram(
            sc.METRIC_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.token_usage = meter.create_histogram(
            sc.METRIC_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self.stage_duration = meter.create_histogram(
            sc.METRIC_STAGE_DURATION,
            unit="s",
            description="Duration of one agent stage (agenttrace.stage).",
            explicit_bucket_boundaries_advisory=_STAGE_BUCKETS,
        )
        self.http_server_duration = meter.create_histogram(
            sc.METRIC_HTTP_SERVER_REQUEST_DURATION,
            unit="s",
            description="Duration of HTTP server requests.",
            explicit_bucket_boundaries_advisory=_HTTP_BUCKETS,
        )

    def record_operation(
        self,
        duration_s: float,
        attributes: Mapping[str, Any],
        input_tokens: int | None,
        output_tokens: int | None,
    ) -> None:
        """Record one GenAI operation (``attributes``: operation, provider, models, error type)."""
        self.operation_duration.record(duration_s, attributes)
        if input_tokens is not None:
            self.token_usage.record(input_tokens, {**attributes, sc.GEN_AI_TOKEN_TYPE: "input"})
        if output_tokens is not None:
            self.token_usage.record(output_tokens, {**attributes, sc.GEN_AI_TOKEN_TYPE: "output"})


_by_provider: weakref.WeakKeyDictionary[metrics.MeterProvider, Instruments] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


_last: tuple[metrics.MeterProvider, Instruments] | None = None


def instruments_for(provider: metrics.MeterProvider) -> Instruments:
    """The instruments for ``provider``, created on first use."""
    global _last
    last = _last
    if last is not None and last[0] is provider:  # the common case: one provider for the whole process
        return last[1]
    found = _by_provider.get(provider)
    if found is None:
        with _lock:
            found = _by_provider.get(provider)
            if found is None:
                found = _by_provider[provider] = Instruments(provider)
    _last = (provider, found)
    return found
