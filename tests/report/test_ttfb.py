from __future__ import annotations

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from agenttrace.report.data import ttfb_seconds

KEY = "agenttrace.response.time_to_first_byte"


def rest(*values: AnyValue) -> bytes:
    span = Span()
    span.attributes.append(KeyValue(key="url.path", value=AnyValue(string_value="/chat")))
    for value in values:
        span.attributes.append(KeyValue(key=KEY, value=value))
    return span.SerializeToString()


@pytest.mark.parametrize(
    ("otlp_rest", "expected"),
    [
        (None, None),
        (b"", None),
        (rest(), None),
        (rest(AnyValue(double_value=0.125)), 0.125),
        (rest(AnyValue(int_value=2)), 2.0),  # not the usual encoding: parsed
        (rest(AnyValue(string_value="0.5")), None),
    ],
    ids=["null", "empty", "absent", "double", "int", "string"],
)
def test_ttfb_seconds(otlp_rest: bytes | None, expected: float | None) -> None:
    assert ttfb_seconds(otlp_rest) == expected


def test_a_request_span_without_time_to_first_byte_reads_as_null_in_sql() -> None:
    import duckdb
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    from agenttrace.report.data import _register_functions

    rest = Span(attributes=[KeyValue(key="url.path", value=AnyValue(string_value="/chat"))]).SerializeToString()
    connection = duckdb.connect()
    _register_functions(connection)
    assert connection.execute("SELECT agenttrace_ttfb_s(?), agenttrace_ttfb_s(NULL)", [rest]).fetchall() == [
        (None, None)
    ]
