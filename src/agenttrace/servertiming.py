"""Read agenttrace's ``Server-Timing`` header back: per-stage time and calls, the agent costs, total and trace.

A pure module (standard library only) for load-tool plugins and tests. The grammar is the W3C Server-Timing
one: metrics separated by commas, each ``name *( ";" param [ "=" token / quoted-string ] )``, optional
whitespace around every separator. ``dur`` and ``desc`` are read; other parameters are ignored; the first of a
repeated parameter wins. Several header values (or lines) are one list. A malformed metric is skipped up to
the next comma; nothing here raises on bad input.

Example:
    >>> timing = parse_server_timing('llm_call;dur=812.4;desc="3", llm_calls;desc="3", total;dur=903.2')
    >>> timing.stages["llm_call"], timing.llm_calls, timing.total_ms
    (StageTiming(dur_ms=812.4, calls=3), 3, 903.2)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["COST_METRICS", "ServerTiming", "StageTiming", "parse_server_timing", "scan_canonical"]

#: The agent-cost metrics (``desc`` is the count), in the order the middleware sends them.
COST_METRICS = ("llm_calls", "tool_calls", "input_tokens", "output_tokens")
_NOT_STAGES = frozenset(("total", "trace", *COST_METRICS))

_TOKEN = r"[^\s;,=\"]+"
_VALUE = r'"(?:[^"\\]|\\.)*"|[^\s;,"]*'
_METRIC = re.compile(rf"\s*({_TOKEN})((?:\s*;\s*{_TOKEN}(?:\s*=\s*(?:{_VALUE}))?)*)\s*(?:,|$)")
_PARAM = re.compile(rf"\s*;\s*({_TOKEN})(?:\s*=\s*({_VALUE}))?")
_UNESCAPE = re.compile(r"\\(.)")
_COST_INDEX = {name: i for i, name in enumerate(COST_METRICS)}
_INFINITE = (float("inf"), float("-inf"))
_TOKEN_NAME = re.compile(_TOKEN)
_tokens: dict[str, bool] = {}
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


@dataclass(frozen=True)
class StageTiming:
    """One stage in one response: its summed milliseconds and how often it ran."""

    dur_ms: float
    calls: int


@dataclass
class ServerTiming:
    """What one response's ``Server-Timing`` says (counts are ``0`` when a metric is absent)."""

    stages: dict[str, StageTiming] = field(default_factory=dict)
    llm_calls: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_ms: float | None = None
    #: The ``trace`` metric's ``desc``: ``00-<trace_id>-<span_id>-<flags>``.
    traceparent: str | None = None

    @property
    def trace_id(self) -> str | None:
        """The 32-hex-digit trace id of the server span, if the header named a valid one."""
        if self.traceparent is None:
            return None
        found = _TRACEPARENT.fullmatch(self.traceparent)
        return found.group(1) if found else None


def _params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, raw in _PARAM.findall(text):
        key = name.lower()
        if key in params:
            continue  # the first of a repeated parameter wins
        if raw.startswith('"'):
            raw = _UNESCAPE.sub(r"\1", raw[1:-1])
        params[key] = raw
    return params


def _number(text: str | None) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def _count(text: str | None) -> int | None:
    value = _number(text)
    return int(value) if value is not None and value >= 0 else None


def _metrics(value: str) -> Iterable[tuple[str, dict[str, str]]]:
    pos, end = 0, len(value)
    while pos < end:
        found = _METRIC.match(value, pos)
        if found is None or found.end() == pos:
            comma = value.find(",", pos)
            if comma < 0:
                return
            pos = comma + 1
            continue
        pos = found.end()
        yield found.group(1), _params(found.group(2)) if found.group(2) else {}


#: The middleware's own form read by :func:`scan_canonical`: stages ``(name, ms, calls)`` in order, the four
#: cost counts (:data:`COST_METRICS` order), ``total``'s ms and ``trace``'s ``desc``.
Canonical = tuple[list[tuple[str, float, int]], list[int], "float | None", "str | None"]


def _token(name: str) -> bool:
    """Whether ``name`` is a metric name the general parser reads the same way (cached: a run has few)."""
    known = _tokens.get(name)
    if known is None:
        if len(_tokens) >= 4096:
            _tokens.clear()
        known = _tokens[name] = _TOKEN_NAME.fullmatch(name) is not None
    return known


def scan_canonical(value: str) -> Canonical | None:
    """Read the middleware's own form (``name;dur=X;desc="N"`` joined by ``", "``) with string splits alone.

    The load generator's hot path: no objects per metric, no general scanner. ``None`` for anything that is
    not exactly that form; :func:`parse_server_timing` then reads it with the general grammar, which gives the
    same result for every value this accepts.
    """
    stages: list[tuple[str, float, int]] = []
    costs = [0, 0, 0, 0]
    total: float | None = None
    trace: str | None = None
    try:
        for part in value.split(", "):
            name, _, params = part.partition(";")
            dur: float | None = None
            if params.startswith("dur="):
                number, _, params = params[4:].partition(";")
                dur = float(number)
            desc = None
            if params:
                if not (params.startswith('desc="') and params.endswith('"')) or ";" in params:
                    return None
                desc = params[6:-1]
            cost = _COST_INDEX.get(name)
            if cost is not None:
                if desc is not None and not desc.isdigit():
                    return None
                costs[cost] = int(desc) if desc else 0
            elif name == "total":
                total = dur
            elif name == "trace":
                trace = desc
            elif not _token(name) or dur is None or dur != dur or dur in _INFINITE or not (desc or "0").isdigit():
                return None
            else:
                stages.append((name, dur, int(desc) if desc else 1))
    except ValueError:
        return None
    return stages, costs, total, trace


def parse_server_timing(headers: str | Iterable[str]) -> ServerTiming:
    """Parse one or more ``Server-Timing`` header values.

    Args:
        headers: a header value, or every value of the header in one response (they form one list).

    Returns:
        The stages (a metric that is none of ``total``, ``trace``, :data:`COST_METRICS`: ``dur`` in ms,
        ``desc`` the call count, default 1), the cost counts, ``total``'s ``dur`` and ``trace``'s ``desc``. A
        stage named twice is summed.
    """
    value = headers if isinstance(headers, str) else ", ".join(headers)
    scanned = scan_canonical(value)
    if scanned is not None:
        return _from_canonical(*scanned)
    timing = ServerTiming()
    for name, params in _metrics(value):
        if name not in _NOT_STAGES:
            dur = _number(params.get("dur")) or 0.0
            calls = _count(params.get("desc"))
            calls = 1 if calls is None else calls
            seen = timing.stages.get(name)
            if seen is not None:
                dur, calls = dur + seen.dur_ms, calls + seen.calls
            timing.stages[name] = StageTiming(dur, calls)
        elif name == "total":
            timing.total_ms = _number(params.get("dur"))
        elif name == "trace":
            timing.traceparent = params.get("desc") or None
        else:
            setattr(timing, name, _count(params.get("desc")) or 0)
    return timing


def _from_canonical(
    found: list[tuple[str, float, int]], costs: list[int], total: float | None, trace: str | None
) -> ServerTiming:
    stages: dict[str, StageTiming] = {}
    for name, ms, calls in found:
        seen = stages.get(name)
        stages[name] = StageTiming(ms, calls) if seen is None else StageTiming(ms + seen.dur_ms, calls + seen.calls)
    llm_calls, tool_calls, input_tokens, output_tokens = costs
    return ServerTiming(stages, llm_calls, tool_calls, input_tokens, output_tokens, total, trace or None)
