"""The batch reader of Server-Timing gives exactly what reading each value on its own gives."""

from __future__ import annotations

import random

import pytest
from opentelemetry.trace import SpanContext, TraceFlags

from agenttrace._asgi.server_timing import ResponseHeaders
from agenttrace._instrument.rollup import RequestRollup
from agenttrace._loadrun import batch as batch_module
from agenttrace._loadrun.batch import ServerTimingBatch
from agenttrace._loadrun.stats import RunStats

STAGES = ("context_load", "llm_call", "tool_call", "memory_save")


def middleware_value(rng: random.Random, traced: bool = True) -> str:
    """A Server-Timing value written by the real middleware code, for a random request."""
    rollup = RequestRollup()
    for stage in STAGES:
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            ms = rng.choice((rng.uniform(0, 10), rng.uniform(10, 1000), rng.lognormvariate(7, 1.5)))
            rollup.add_stage(stage, ms / 1000, llm=stage == "llm_call", tool=stage == "tool_call", input_tokens=7)
    context = SpanContext(rng.getrandbits(128) or 1, rng.getrandbits(64) or 1, False, TraceFlags(1))
    headers = ResponseHeaders(
        server_timing=True, stages=None, traceresponse=False, expose_headers=False, timing_allow_origin=""
    )
    built = headers.build([], rollup, rng.uniform(0, 5), context if traced else SpanContext(0, 0, False))
    return dict(built)[b"server-timing"].decode()


def one_by_one(values: list[str]) -> RunStats:
    stats = RunStats()
    for value in values:
        stats.add_header(value)
    return stats


def batched(values: list[str], size: int) -> tuple[RunStats, ServerTimingBatch]:
    stats, batch = RunStats(), ServerTimingBatch(size)
    for value in values:
        batch.add(value, stats)
    batch.fold(stats)
    return stats, batch


def assert_same(got: RunStats, want: RunStats) -> None:
    """Equal statistics; sums of floats may differ in the last bits (added in another order)."""
    got_wire, want_wire = got.to_wire(), want.to_wire()
    for wire in (got_wire, want_wire):
        for stage in [*wire["stages"].values(), wire["total"]]:
            stage[2] = round(stage[2], 6)
            stage[4] = sorted(stage[4])
    assert got_wire == want_wire
    assert list(got.stages) == list(want.stages)  # the table lists stages in the order they first appeared


@pytest.mark.parametrize("size", [1, 7, 256])
def test_middleware_values_read_in_batches_equal_one_by_one(size: int) -> None:
    rng = random.Random(size)
    values = [middleware_value(rng, traced=i % 5 != 0) for i in range(1000)]
    got, batch = batched(values, size)
    assert_same(got, one_by_one(values))
    assert got.requests == 1000 and batch.values == []


def test_the_middlewares_form_takes_the_batch_path() -> None:
    rng = random.Random(3)
    values = [middleware_value(rng) for _ in range(50)]
    stats, batch = RunStats(), ServerTimingBatch()
    assert batch._read_canonical(values, stats) is True
    batch.fold(stats)  # the durations waiting, into the histograms
    assert_same(stats, one_by_one(values))


OTHER_FORMS = [
    "db;dur=5.2, cache;desc=hit",  # another server's form
    'llm_call;dur=1.0;desc="1", llm_call;dur=2.0;desc="2", llm_calls;desc="3", tool_calls;desc="0", '
    'input_tokens;desc="1", output_tokens;desc="1", total;dur=4.0',  # a stage named twice: summed, one request
    'trace;dur=1.0;desc="2", llm_calls;desc="3", tool_calls;desc="0", input_tokens;desc="1", '
    'output_tokens;desc="1", total;dur=4.0',  # a reserved name in a stage's place
    'total;dur=1.0;desc="2", llm_calls;desc="3", tool_calls;desc="0", input_tokens;desc="1", '
    'output_tokens;desc="1", total;dur=4.0',
    'x;dur=1e3;desc="1", llm_calls;desc="0", tool_calls;desc="0", input_tokens;desc="0", '
    'output_tokens;desc="0", total;dur=4.0',  # a number the fast form does not take
    'a;dur=1.0;desc="1"\nb;dur=2.0;desc="1", llm_calls;desc="0", tool_calls;desc="0", input_tokens;desc="0", '
    'output_tokens;desc="0", total;dur=4.0',  # a line break inside a value
    'a;dur=1.0;desc="1", llm_calls;desc="1", tool_calls;desc="0", input_tokens;desc="0", output_tokens;desc="0", '
    'total;dur=1.0, b;dur=2.0;desc="1", llm_calls;desc="2", tool_calls;desc="0", input_tokens;desc="0", '
    'output_tokens;desc="0", total;dur=2.0',  # two tails in one value, a stage between them
    'a;dur=1.0;desc="1"x, llm_calls;desc="0", tool_calls;desc="0", input_tokens;desc="0", '
    'output_tokens;desc="0", total;dur=4.0',  # text glued to a stage
    'a;dur=1.0, llm_calls;desc="0", tool_calls;desc="0", input_tokens;desc="0", '
    'output_tokens;desc="0", total;dur=4.0',  # a stage without its calls
    'llm_calls;desc="0", tool_calls;desc="0", input_tokens;desc="0", output_tokens;desc="0", total;dur=4.0, '
    'trace;desc="00-ab", a;dur=1.0;desc="1"',  # a metric after the trace
    "",
    "x" * 100_000,
    ", , ;;; ===",
]


@pytest.mark.parametrize("other", OTHER_FORMS)
def test_a_batch_with_any_other_value_is_read_exactly(other: str) -> None:
    rng = random.Random(11)
    values = [middleware_value(rng) for _ in range(20)]
    values.insert(7, other)
    got, _ = batched(values, 8)
    assert_same(got, one_by_one(values))


def test_a_stage_named_twice_counts_one_request() -> None:
    got, _ = batched([OTHER_FORMS[1]] * 3, 3)
    assert (got.requests, got.stages["llm_call"].requests, got.stages["llm_call"].calls) == (3, 3, 9)
    assert got.stages["llm_call"].sum_ms == 9.0


def test_one_duration_written_two_ways_counts_every_request() -> None:
    tail = 'llm_calls;desc="0", tool_calls;desc="0", input_tokens;desc="0", output_tokens;desc="0"'
    values = [f'a;dur=5.0;desc="1", {tail}, total;dur=7.0', f'a;dur=5.00;desc="2", {tail}, total;dur=7.00'] * 3
    got, _ = batched(values, 6)
    assert (got.total.requests, got.stages["a"].requests, got.stages["a"].calls) == (6, 6, 9)
    assert_same(got, one_by_one(values))


def test_new_stages_in_later_batches_are_found_in_order() -> None:
    tail = 'llm_calls;desc="0", tool_calls;desc="0", input_tokens;desc="0", output_tokens;desc="0", total;dur=1.0'
    values = [f'b;dur=1.0;desc="1", {tail}'] * 4 + [f'a;dur=2.0;desc="1", b;dur=1.0;desc="1", {tail}'] * 4
    got, batch = batched(values, 4)
    assert list(got.stages) == ["b", "a"]
    assert (got.stages["a"].requests, got.stages["b"].requests, got.requests) == (4, 8, 8)
    assert_same(got, one_by_one(values))


def test_waiting_durations_are_bucketed_when_too_many_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_module, "MAX_PENDING", 400)
    rng = random.Random(2)
    values = [middleware_value(rng) for _ in range(300)]
    stats, batch = RunStats(), ServerTimingBatch(50)
    for value in values[:50]:
        batch.add(value, stats)
    assert stats.requests == 50 and stats.total.requests == 0  # read, durations waiting
    for value in values[50:]:
        batch.add(value, stats)
    assert stats.total.requests >= 100  # over MAX_PENDING distinct durations: bucketed without a reader
    batch.fold(stats)
    assert_same(stats, one_by_one(values))


def test_a_server_inventing_stage_names_stays_exact() -> None:
    tail = 'llm_calls;desc="0", tool_calls;desc="0", input_tokens;desc="0", output_tokens;desc="0", total;dur=1.0'
    values = [f's{i};dur=1.5;desc="1", {tail}' for i in range(3000)]
    got, _ = batched(values, 256)
    assert len(got.stages) == 3000 and got.requests == 3000
    assert_same(got, one_by_one(values))
