from __future__ import annotations

import pytest
from opentelemetry.trace import SpanContext, TraceFlags

from agenttrace._asgi.server_timing import ResponseHeaders
from agenttrace._instrument.rollup import RequestRollup
from agenttrace.servertiming import ServerTiming, StageTiming, parse_server_timing

TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

CASES: list[tuple[str, str | list[str], ServerTiming]] = [
    (
        "the middleware's form",
        'llm_call;dur=812.4;desc="3", tool_execution;dur=40.1;desc="1", llm_calls;desc="3", tool_calls;desc="1", '
        f'input_tokens;desc="1200", output_tokens;desc="310", total;dur=903.2, trace;desc="{TRACE}"',
        ServerTiming(
            stages={"llm_call": StageTiming(812.4, 3), "tool_execution": StageTiming(40.1, 1)},
            llm_calls=3,
            tool_calls=1,
            input_tokens=1200,
            output_tokens=310,
            total_ms=903.2,
            traceparent=TRACE,
        ),
    ),
    (
        "unquoted desc",
        "db;dur=2;desc=4, llm_calls;desc=2",
        ServerTiming(stages={"db": StageTiming(2.0, 4)}, llm_calls=2),
    ),
    (
        "extra whitespace everywhere",
        '  db ; dur = 2.5 ;  desc = "7"  ,\t total ;dur=3 ',
        ServerTiming(stages={"db": StageTiming(2.5, 7)}, total_ms=3.0),
    ),
    (
        "unknown params and upper-case names",
        'cache;foo=bar;DUR=1.5;x;desc="2";dur=9',
        ServerTiming(stages={"cache": StageTiming(1.5, 2)}),
    ),
    (
        "a stage without dur or desc counts one call of 0 ms",
        "miss",
        ServerTiming(stages={"miss": StageTiming(0.0, 1)}),
    ),
    (
        "a quoted desc with a comma, a semicolon and an escape",
        'note;desc="a, b; \\"c\\"", db;dur=1;desc="1"',
        ServerTiming(stages={"note": StageTiming(0.0, 1), "db": StageTiming(1.0, 1)}),
    ),
    (
        "several header values are one list; a repeated stage is summed",
        ['db;dur=1;desc="1", llm_calls;desc="1"', 'db;dur=2;desc="2", output_tokens;desc="5"'],
        ServerTiming(stages={"db": StageTiming(3.0, 3)}, llm_calls=1, output_tokens=5),
    ),
    (
        "malformed metrics are skipped up to the next comma",
        '=oops, db;dur=abc;desc="x", ;;, good;dur=4;desc="2", input_tokens;desc="-3", total;dur=nan',
        ServerTiming(stages={"db": StageTiming(0.0, 1), "good": StageTiming(4.0, 2)}),
    ),
    ("empty", "", ServerTiming()),
    ("an invalid trace keeps the text but no trace id", 'trace;desc="nope"', ServerTiming(traceparent="nope")),
]


@pytest.mark.parametrize(("header", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_parse_server_timing(header: str | list[str], expected: ServerTiming) -> None:
    assert parse_server_timing(header) == expected


def test_trace_id() -> None:
    assert parse_server_timing(f'trace;desc="{TRACE}"').trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert parse_server_timing('trace;desc="nope"').trace_id is None
    assert parse_server_timing("db;dur=1").trace_id is None


def test_round_trip_of_the_middleware_header() -> None:
    rollup = RequestRollup()
    rollup.add_stage("llm_call", 0.5, llm=True, input_tokens=100, output_tokens=20)
    rollup.add_stage("llm_call", 0.25, llm=True, input_tokens=50, output_tokens=10)
    rollup.add_stage("search tool", 0.125, tool=True)
    rollup.add_stage("total", 0.001)
    headers = ResponseHeaders(
        server_timing=True, stages=None, traceresponse=False, expose_headers=False, timing_allow_origin="*"
    )
    context = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, False, TraceFlags(1))
    ((_, value),) = headers.build([], rollup, 1.0, context)
    assert parse_server_timing(value.decode()) == ServerTiming(
        stages={
            "llm_call": StageTiming(750.0, 2),
            "search_tool": StageTiming(125.0, 1),
            "total_stage": StageTiming(1.0, 1),
        },
        llm_calls=2,
        tool_calls=1,
        input_tokens=150,
        output_tokens=30,
        total_ms=1000.0,
        traceparent=TRACE,
    )


def test_the_fast_path_and_the_general_parser_agree() -> None:
    header = CASES[0][1]
    assert isinstance(header, str)
    spaced = header.replace(", ", " ,  ")  # not the middleware's exact form: read by the general scanner
    assert parse_server_timing(spaced) == parse_server_timing(header) == CASES[0][2]
    odd = 'a;dur=1;desc="x", b;dur=2;desc="2.5", llm_calls;desc="-1", total;dur=3'
    assert (
        parse_server_timing(odd)
        == parse_server_timing(odd.replace(", ", " , "))
        == ServerTiming(stages={"a": StageTiming(1.0, 1), "b": StageTiming(2.0, 2)}, total_ms=3.0)
    )
