"""Per-request accounting: the roll-up that sums the stages of one request.

A :class:`RequestRollup` lives in the OpenTelemetry context, so it follows the work wherever the context
goes (``asyncio.gather``, ``create_task``, ``asyncio.to_thread``) and each request has its own: concurrent
requests never share one. Stages report into it when they end, possibly from other threads, so it is
guarded by a lock. The ASGI middleware and :func:`agenttrace.request` both open one.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import baggage
from opentelemetry import context as otel_context

from agenttrace import _names as sc

_ROLLUP_KEY = otel_context.create_key("agenttrace-request-rollup")

#: Longest load-run identity value kept from baggage; longer values are cut to this length.
MAX_IDENTITY_LENGTH = 128


@dataclass(frozen=True)
class StageTotals:
    """How often one stage ran inside a request and the seconds it took in total."""

    calls: int
    duration_s: float


class RequestRollup:
    """The running totals of one request: LLM and tool calls, tokens, and per-stage calls and time."""

    __slots__ = (
        "_lock",
        "identity",
        "route",
        "llm_calls",
        "tool_calls",
        "input_tokens",
        "output_tokens",
        "_stages",
        "_metric_attributes",
    )

    def __init__(self, identity: Mapping[str, str] | None = None, route: str | None = None) -> None:
        self._lock = threading.Lock()
        #: Load-run identity (``agenttrace.run_id`` / ``.scenario`` / ``.user``) copied onto every span.
        self.identity: dict[str, str] = dict(identity or {})
        #: The route template of the request, for low-cardinality metric attributes.
        self.route = route
        self.llm_calls = 0
        self.tool_calls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self._stages: dict[str, list[float]] = {}
        self._metric_attributes: dict[str, dict[str, str]] = {}

    def add_stage(
        self,
        stage: str,
        duration_s: float,
        llm: bool = False,
        tool: bool = False,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
    ) -> None:
        """Account one finished stage."""
        with self._lock:
            entry = self._stages.get(stage)
            if entry is None:
                self._stages[stage] = [1, duration_s]
            else:
                entry[0] += 1
                entry[1] += duration_s
            if llm:
                self.llm_calls += 1
            if tool:
                self.tool_calls += 1
            if input_tokens:
                self.input_tokens += input_tokens
            if output_tokens:
                self.output_tokens += output_tokens

    def metric_attributes(self, stage: str) -> dict[str, str]:
        """Attributes of the per-stage duration metric for ``stage`` in this request (low cardinality)."""
        found = self._metric_attributes.get(stage)
        if found is None:
            found = {sc.STAGE: stage}
            if self.route is not None:
                found[sc.HTTP_ROUTE] = self.route
            run_id = self.identity.get(sc.RUN_ID)
            if run_id is not None:
                found[sc.RUN_ID] = run_id
            self._metric_attributes[stage] = found
        return found

    @property
    def stages(self) -> dict[str, StageTotals]:
        """Per-stage totals, in the order the stages first finished."""
        return {name: StageTotals(calls, secs) for name, calls, secs in self.stage_snapshot()}

    def stage_snapshot(self) -> list[tuple[str, int, float]]:
        """``(stage, calls, seconds)`` per stage so far, in first-finished order (cheap: no objects built)."""
        with self._lock:
            return [(name, int(calls), secs) for name, (calls, secs) in self._stages.items()]

    def rollup_attributes(self) -> dict[str, Any]:
        """The request span's roll-up attributes (see the telemetry contract in the README).

        The three per-stage arrays are left out when no stage ran.
        """
        with self._lock:
            attributes: dict[str, Any] = {
                sc.LLM_CALLS: self.llm_calls,
                sc.TOOL_CALLS: self.tool_calls,
                sc.GEN_AI_USAGE_INPUT_TOKENS: self.input_tokens,
                sc.GEN_AI_USAGE_OUTPUT_TOKENS: self.output_tokens,
            }
            stages = self._stages
            if stages:
                attributes[sc.STAGES] = tuple(stages)
                attributes[sc.STAGE_CALLS] = tuple(int(calls) for calls, _ in stages.values())
                attributes[sc.STAGE_DURATIONS] = tuple(secs for _, secs in stages.values())
        return attributes


def current_rollup(ctx: otel_context.Context | None = None) -> RequestRollup | None:
    """The request roll-up active in ``ctx`` (default: the current context), if any."""
    rollup = otel_context.get_value(_ROLLUP_KEY, ctx)
    return rollup if isinstance(rollup, RequestRollup) else None


def with_rollup(rollup: RequestRollup, ctx: otel_context.Context | None = None) -> otel_context.Context:
    """A context like ``ctx`` with ``rollup`` active in it."""
    return otel_context.set_value(_ROLLUP_KEY, rollup, ctx)


def identity_from_baggage(ctx: otel_context.Context | None = None) -> dict[str, str]:
    """The load-run identity in the W3C baggage of ``ctx``; other entries are ignored, values length-limited."""
    entries = baggage.get_all(ctx)
    if not entries:
        return {}
    identity: dict[str, str] = {}
    for key in sc.IDENTITY_KEYS:
        value = entries.get(key)
        if isinstance(value, str) and value:
            identity[key] = value[:MAX_IDENTITY_LENGTH]
    return identity
