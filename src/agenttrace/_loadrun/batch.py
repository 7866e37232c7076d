"""``Server-Timing`` values read a batch at a time: per request, the load generator only appends a string.

Reading one value costs about 16 us of Python (split, convert, one histogram update per stage), which a load
generator pays on every response. Here the values wait in a list and are read :data:`BATCH_SIZE` at a time
with whole-batch scans: one regular expression validates each value as exactly the middleware's own form,
then the batch is joined into one text that ``str.count`` and one ``findall`` per stage read at C speed, and
each stage's durations go into its histogram in one step (:meth:`StageStats.add_many`). Anything else in a
batch (another server's form, a stage named twice in one value) sends that batch the exact one-by-one way
(:meth:`RunStats.add_header`), so the result never depends on the path taken.

Readers of the statistics call :meth:`ServerTimingBatch.fold` first (the plugin does, before every report).
"""

from __future__ import annotations

import re
from itertools import repeat
from operator import contains

from agenttrace._loadrun.stats import RunStats, StageStats
from agenttrace.servertiming import COST_METRICS

#: Values read per batch: large enough to amortise the scans, small enough to hold little memory (~100 KB).
BATCH_SIZE = 256

_NAME = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"  # an RFC 9110 token: what the middleware writes as a metric name
_NUMBER = r"\d+(?:\.\d+)?"
_COSTS = ", ".join(f'{name};desc="(\\d+)"' for name in COST_METRICS)
#: The middleware's own form (``_asgi/server_timing.py``): stages, the four costs, total, optional trace.
_VALUE = re.compile(
    rf'(?:{_NAME};dur={_NUMBER};desc="\d+", )*{_COSTS.replace("(", "").replace(")", "")}, '
    rf'total;dur={_NUMBER}(?:, trace;desc="[0-9a-f-]{{0,64}}")?'
)
_COSTS_AND_TOTAL = re.compile(rf", {_COSTS}, total;dur=({_NUMBER})")
_STAGE_NAMES = re.compile(r", ([^;\n]+);dur=")
_NOT_STAGES = frozenset(("total", "trace", *COST_METRICS))
#: Distinct stage names remembered; a server inventing more is read the one-by-one way.
_MAX_STAGES = 1024


class ServerTimingBatch:
    """``Server-Timing`` values waiting to be read into a :class:`RunStats`."""

    def __init__(self, size: int = BATCH_SIZE) -> None:
        self.values: list[str] = []
        self.size = size
        self._stages: dict[str, re.Pattern[str]] = {}  # stage -> its pattern; a run has a handful

    def add(self, value: str, stats: RunStats) -> None:
        """Keep one response's value; read the batch into ``stats`` when it is full."""
        values = self.values
        values.append(value)
        if len(values) >= self.size:
            self.fold(stats)

    def fold(self, stats: RunStats) -> None:
        """Read every waiting value into ``stats``."""
        values, self.values = self.values, []
        if not values:
            return
        if not (all(map(_VALUE.fullmatch, values)) and self._fold_canonical(values, stats)):
            for value in values:
                stats.add_header(value)

    def _fold_canonical(self, values: list[str], stats: RunStats) -> bool:
        """Read values of the middleware's form; false (``stats`` untouched) if one names a stage twice."""
        text = ", " + "\n, ".join(values)  # every metric now follows ", "; every value is one line
        count = len(values)
        costs = _COSTS_AND_TOTAL.findall(text)
        if len(costs) != count:
            return False
        stages = self._stage_patterns(text, count)
        if stages is None:
            return False
        lines = text.split("\n")
        found: list[tuple[str, list[tuple[str, str]]]] = []
        for name, pattern in stages.items():
            marker = f", {name};dur="
            samples = pattern.findall(text)
            if len(samples) != sum(map(contains, lines, repeat(marker))):
                return False  # a value names this stage twice: the one-by-one reader sums it
            if samples:
                found.append((name, samples))
        llm, tool, tokens_in, tokens_out, totals = zip(*costs, strict=True)
        stats.requests += count
        stats.llm_calls += sum(map(int, llm))
        stats.tool_calls += sum(map(int, tool))
        stats.input_tokens += sum(map(int, tokens_in))
        stats.output_tokens += sum(map(int, tokens_out))
        for name, samples in found:
            durations, calls = zip(*samples, strict=True)
            stage = stats.stages.get(name)
            if stage is None:
                stage = stats.stages[name] = StageStats()
            stage.add_many(list(map(float, durations)), sum(map(int, calls)))
        stats.total.add_many(list(map(float, totals)), count)
        return True

    def _stage_patterns(self, text: str, count: int) -> dict[str, re.Pattern[str]] | None:
        """The patterns of every stage named in ``text`` (``None``: more distinct names than are remembered)."""
        stages = self._stages
        named = text.count(";dur=") - count  # stage metrics: every ";dur=" but the one total per value
        if sum(text.count(f", {name};dur=") for name in stages) != named:  # a stage not seen before
            for name in dict.fromkeys(_STAGE_NAMES.findall(text)):  # in the order they first appear
                if name in stages or name in _NOT_STAGES:  # a reserved name is never a stage, wherever it is
                    continue
                if len(stages) >= _MAX_STAGES:
                    return None
                stages[name] = re.compile(re.escape(f", {name};dur=") + rf'({_NUMBER});desc="(\d+)"')
        return stages
