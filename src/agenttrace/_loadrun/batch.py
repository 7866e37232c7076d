"""``Server-Timing`` values read a batch at a time: per request, the load generator only appends a string.

Reading one value costs about 16 us of Python (split, convert, one histogram update per stage), which a load
generator pays on every response. Here the values wait in a list and are read :data:`BATCH_SIZE` at a time,
at C speed: the batch is joined into one text (one value per line, every metric after ``", "``); one
``split`` on the costs-and-total tail cuts it into each value's stages' text and the tail's numbers; one
``findall`` per stage (a literal prefix: fast search) reads the stages' text only. Each stage's metrics
are counted as the text the middleware wrote (``812.4;desc="2``) in a ``Counter``: when the generator is
the bottleneck, responses are fast and their durations recur at a tenth of a millisecond, so turning each
distinct text into numbers and a histogram bucket (:meth:`StageStats.add_counted`) happens once per
distinct value, when the statistics are read or :data:`MAX_PENDING` distinct values wait. (When nearly
every duration is new, as in a slow agent's run, a value costs about twice as much; the generator is then
mostly idle.)

The batch is read this way only when it is exactly the middleware's own form, checked by counting rather than
by parsing each value: every value must end in one costs-and-total tail, the stage patterns are anchored at
both ends of a metric, so the metrics they match must account for every ``", "`` in the stages' text, no
stage may have a reserved name and no value may name a stage twice. Anything else (another server's form,
a stage named twice, a malformed value) sends that batch the exact one-by-one way
(:meth:`RunStats.add_header`), so the result never depends on the path taken.

Readers of the statistics call :meth:`ServerTimingBatch.fold` first (the plugin does, before every report).
Until then the stage metrics of batches read the fast way wait here; the request count and the costs are
added to the statistics at once.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import repeat
from operator import contains

from agenttrace._loadrun.stats import RunStats, StageStats
from agenttrace.servertiming import COST_METRICS

#: Values read per batch: large enough to amortise the scans, small enough to hold little memory (~100 KB).
BATCH_SIZE = 256
#: Distinct stage metrics waiting before they are turned into histogram buckets.
MAX_PENDING = 50_000

_NUMBER = r"\d+(?:\.\d+)?"
#: The tail of every value the middleware writes: the four costs, total and (when traced) the trace.
_TAIL = re.compile(
    ", "
    + ", ".join(f'{name};desc="(\\d+)"' for name in COST_METRICS)
    + rf', total;dur=({_NUMBER})(?:, trace;desc="[0-9a-f-]{{0,64}}")?(?=\n|\Z)'
)
#: ``_TAIL.split`` gives, per value, its stages' text and then the tail's five groups.
_STRIDE = 6
#: Every stage metric's name (read when a batch names a stage not seen before).
_STAGE_NAMES = re.compile(r", ([!#$%&'*+\-.^_`|~0-9A-Za-z]+);dur=")
_NOT_STAGES = frozenset(("total", "trace", *COST_METRICS))
#: Distinct stage names remembered; past that, a batch naming a new one is read the one-by-one way.
_MAX_STAGES = 1024


def _stage_pattern(name: str) -> re.Pattern[str]:
    """One stage's metric as the middleware writes it: ``dur`` in ms, ``desc`` the calls."""
    return re.compile(re.escape(f", {name};dur=") + rf'({_NUMBER};desc="\d+)"(?=, |\n|\Z)')


def _counted(metrics: Counter[str]) -> tuple[dict[float, int], int, int]:
    """Waiting metrics (``'812.4;desc="2'``, or a bare ``'812.4'``: one call) as durations, requests, calls."""
    durations: dict[float, int] = {}
    requests = calls = 0
    for metric, n in metrics.items():
        dur, _, desc = metric.partition(';desc="')
        ms = float(dur)  # "5.0" and "5.00" are one duration: counts add up
        durations[ms] = durations.get(ms, 0) + n
        requests += n
        calls += int(desc) * n if desc else n
    return durations, requests, calls


class ServerTimingBatch:
    """``Server-Timing`` values waiting to be read into a :class:`RunStats`."""

    def __init__(self, size: int = BATCH_SIZE) -> None:
        self.values: list[str] = []
        self.size = size
        self._patterns: dict[str, re.Pattern[str]] = {}  # every stage seen; a run has a handful
        self._stages: dict[str, Counter[str]] = {}  # stage -> 'dur;desc="calls' text -> requests
        self._totals: Counter[str] = Counter()  # total's dur text -> requests

    def add(self, value: str, stats: RunStats) -> None:
        """Keep one response's value; read the batch into ``stats`` when it is full."""
        values = self.values
        values.append(value)
        if len(values) >= self.size:
            self._read(stats)

    def fold(self, stats: RunStats) -> None:
        """Read every waiting value and stage metric into ``stats``."""
        self._read(stats)
        self._settle(stats)

    def _read(self, stats: RunStats) -> None:
        values, self.values = self.values, []
        if values and not self._read_canonical(values, stats):
            for value in values:
                stats.add_header(value)
        if sum(map(len, self._stages.values())) + len(self._totals) > MAX_PENDING:
            self._settle(stats)

    def _settle(self, stats: RunStats) -> None:
        """Move the waiting stage metrics into the stage histograms."""
        for name, metrics in self._stages.items():
            stats.stages[name].add_counted(*_counted(metrics))
        stats.total.add_counted(*_counted(self._totals))
        self._stages, self._totals = {}, Counter()

    def _read_canonical(self, values: list[str], stats: RunStats) -> bool:
        """Read a batch of the middleware's form; false (``stats`` untouched) for anything else."""
        if any(map(contains, values, repeat("\n"))):
            return False
        count = len(values)
        # One pass cuts every value into its stages' text and its tail's groups (the four costs and total).
        parts = _TAIL.split(", " + "\n, ".join(values))
        if len(parts) != count * _STRIDE + 1:
            return False  # a value without the tail (or with text after it): not the middleware's form
        sections = parts[::_STRIDE]  # each value's stage metrics, every one after ", " (and a last, empty one)
        staged = "".join(sections)
        metrics = staged.count(", ")
        found = self._stage_metrics(staged)
        if metrics != sum(map(len, found.values())):
            # A metric no pattern took: a stage not seen before (learn it, read again), or not the middleware's form.
            if not self._learn_stages(staged):
                return False
            found = self._stage_metrics(staged)
            if metrics != sum(map(len, found.values())):
                return False
        for name, samples in found.items():
            if len(samples) != sum(map(contains, sections, repeat(f", {name};dur="))):
                return False  # a value names this stage twice: the one-by-one reader sums it
        stats.requests += count
        stats.llm_calls += sum(map(int, parts[1::_STRIDE]))
        stats.tool_calls += sum(map(int, parts[2::_STRIDE]))
        stats.input_tokens += sum(map(int, parts[3::_STRIDE]))
        stats.output_tokens += sum(map(int, parts[4::_STRIDE]))
        for name, samples in found.items():
            if name not in stats.stages:
                stats.stages[name] = StageStats()  # the table lists stages in the order they first appear
            waiting = self._stages.get(name)
            if waiting is None:
                waiting = self._stages[name] = Counter()
            waiting.update(samples)
        self._totals.update(parts[5::_STRIDE])
        return True

    def _stage_metrics(self, text: str) -> dict[str, list[str]]:
        """Each known stage's ``dur;desc="calls`` texts in ``text``, by stage in the order stages were learned."""
        return {name: samples for name, pattern in self._patterns.items() if (samples := pattern.findall(text))}

    def _learn_stages(self, text: str) -> bool:
        """Learn the stage names in ``text`` not seen before, in order; whether there were any."""
        patterns = self._patterns
        learned = False
        for name in dict.fromkeys(_STAGE_NAMES.findall(text)):
            if name not in patterns and name not in _NOT_STAGES and len(patterns) < _MAX_STAGES:
                patterns[name] = _stage_pattern(name)
                learned = True
        return learned
