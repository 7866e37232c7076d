"""The spans of a run in the shapes other sources hold them: OTLP/JSON (file exporter, Jaeger) and ClickHouse rows.

Run ``python -m tests.report.source_spans`` to rewrite the recorded-shape Jaeger fixture from ``RUN_A``.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.report.conftest import RUN_A, S, export_request

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
JAEGER_RUN_A = FIXTURES / "jaeger-apiv3" / "FindTraces-run-a.json"
_IDS = ("traceId", "spanId", "parentSpanId")


def _hex_ids(span: dict[str, Any]) -> dict[str, Any]:
    for key in _IDS:
        if key in span:
            span[key] = base64.b64decode(span[key]).hex()
    return span


def otlp_json(spans: list[S]) -> dict[str, Any]:
    """An ``ExportTraceServiceRequest`` in OTLP/JSON as the Collector writes it: hex ids, enums as integers."""
    request = ExportTraceServiceRequest.FromString(export_request(spans))
    data: dict[str, Any] = json_format.MessageToDict(request, use_integers_for_enums=True)
    for resource in data["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            scope.setdefault("scope", {})
            scope["spans"] = [_hex_ids(span) for span in scope["spans"]]
    return data


def jaeger_find_traces(spans: list[S]) -> dict[str, Any]:
    """Jaeger's ``/api/v3/traces`` answer holding ``spans``: one ``resourceSpans`` per trace, in ``{"result"}``."""
    traces: dict[int, list[S]] = {}
    for span in spans:
        traces.setdefault(span.trace, []).append(span)
    resource_spans = [otlp_json(trace)["resourceSpans"][0] for trace in traces.values()]
    for resource in resource_spans:  # Jaeger writes the empty fields too
        for span in resource["scopeSpans"][0]["spans"]:
            span.setdefault("parentSpanId", "")
            span.setdefault("status", {})
    return {"result": {"resourceSpans": resource_spans}}


def _as_string(value: Any) -> str:
    """An attribute value as the clickhouse exporter stores it (pdata ``AsString``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value).removesuffix(".0")
    if isinstance(value, list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


_KIND = {0: "Unspecified", 1: "Internal", 2: "Server", 3: "Client", 4: "Producer", 5: "Consumer"}


def clickhouse_rows(spans: list[S], service: str = "agent") -> list[dict[str, Any]]:
    """``otel_traces`` rows of ``spans`` as the Collector's clickhouse exporter inserts them (JSONEachRow)."""
    request = ExportTraceServiceRequest.FromString(export_request(spans))
    rows = []
    for span in request.resource_spans[0].scope_spans[0].spans:
        start = span.start_time_unix_nano
        attributes = {}
        for kv in span.attributes:  # MessageToDict gives {"intValue": "3"}: take the value itself
            which = kv.value.WhichOneof("value")
            attributes[kv.key] = _as_string(getattr(kv.value, which))
        rows.append(
            {
                "Timestamp": f"{start // 10**9}.{start % 10**9:09d}",
                "TraceId": span.trace_id.hex(),
                "SpanId": span.span_id.hex(),
                "ParentSpanId": span.parent_span_id.hex(),
                "TraceState": "",
                "SpanName": span.name,
                "SpanKind": _KIND[span.kind],
                "ServiceName": service,
                "ResourceAttributes": {"service.name": service},
                "ScopeName": "",
                "ScopeVersion": "",
                "SpanAttributes": attributes,
                "Duration": span.end_time_unix_nano - start,
                "StatusCode": {0: "Unset", 1: "Ok", 2: "Error"}[span.status.code],
                "StatusMessage": span.status.message,
            }
        )
    return rows


if __name__ == "__main__":
    JAEGER_RUN_A.write_text(json.dumps(jaeger_find_traces(RUN_A), indent=2) + "\n", encoding="utf-8")
