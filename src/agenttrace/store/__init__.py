"""The span store: one DuckDB file of spans, its write-ahead log, and the read API.

Needs the ``collector`` extra (``pip install 'agenttrace[collector]'``). The collector writes it; every read
command (``agenttrace runs``, the report) reads it through :class:`SpanStore`. Importing this package does
not import the collector's servers.

Storage layout
--------------
``<db>`` is one DuckDB file; ``<db>.ingest/`` holds acknowledged spans not yet loaded into it (a
write-ahead log of tab-separated text, one line per span, replayed when the store is next opened
read-write). Only one process can open the file read-write at a time, so read it after the collector
has stopped. A log segment DuckDB cannot load (damaged on disk) is moved to ``<db>.ingest/rejected/``
with an error log line naming it, and the rest loads; nothing there is deleted.

Write side: ``_rows`` (requests to log lines, size limits from ``_limits``), ``_log`` (segments),
``_loader`` (segments into DuckDB), ``_ingest`` (the ``Ingestor`` running both). Read side: ``_reader``
(``SpanStore``). ``_schema`` is shared: the table and the log line format.

Size limits
-----------
A string attribute value (and each string in an array value) longer than ``max_attribute_length``
characters (default 16384, or ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`` when set; ``--max-attribute-length``)
is cut to that length, as OpenTelemetry SDKs do; the span's ``agenttrace.trimmed_attributes`` attribute
(a string array in ``otlp_rest``) lists the keys that were cut, and ``resource_attributes`` gets the same
key for cut resource attributes. Extracted columns hold the trimmed values too. A span whose encoded size
is still over ``max_span_bytes`` (default 1 MiB; ``--max-span-bytes``: a huge name, events, links) is
rejected: the sender gets an OTLP partial success with ``span over N bytes``.

Table ``spans``: one row per span.

===================== ============ ==========================================================
column                type         source
===================== ============ ==========================================================
trace_id              VARCHAR      32 lowercase hex digits
span_id               VARCHAR      16 lowercase hex digits
parent_span_id        VARCHAR      16 hex digits; NULL for a root span
name                  VARCHAR      span name
kind                  VARCHAR      INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER or UNSPECIFIED
start_ns, end_ns      BIGINT       start/end, nanoseconds since the Unix epoch
duration_ns           BIGINT       end_ns - start_ns
status_code           VARCHAR      UNSET, OK or ERROR
status_message        VARCHAR      status description, NULL when empty
service_name          VARCHAR      resource attribute ``service.name``
stage                 VARCHAR      ``agenttrace.stage``
run_id                VARCHAR      ``agenttrace.run_id``
scenario              VARCHAR      ``agenttrace.scenario``
virtual_user          VARCHAR      ``agenttrace.user``
http_route            VARCHAR      ``http.route``
http_method           VARCHAR      ``http.request.method``
http_status_code      BIGINT       ``http.response.status_code``
input_tokens          BIGINT       ``gen_ai.usage.input_tokens``
output_tokens         BIGINT       ``gen_ai.usage.output_tokens``
gen_ai_operation      VARCHAR      ``gen_ai.operation.name``
gen_ai_model          VARCHAR      ``gen_ai.request.model``
llm_calls             BIGINT       ``agenttrace.llm_calls``
tool_calls            BIGINT       ``agenttrace.tool_calls``
error_type            VARCHAR      ``error.type``
stages                VARCHAR[]    ``agenttrace.stages`` (request spans)
stage_calls           BIGINT[]     ``agenttrace.stage_calls``, parallel to ``stages``
stage_durations       DOUBLE[]     ``agenttrace.stage_durations`` (seconds), parallel to ``stages``
resource_attributes   JSON         all resource attributes (object)
scope_name            VARCHAR      instrumentation scope name
scope_version         VARCHAR      instrumentation scope version
otlp_rest             BLOB         the rest of the span, as a serialised OTLP ``Span`` message:
                                   every other attribute, events, links, trace_state, flags
                                   and dropped counts (the fields above are cleared); NULL
                                   when nothing is left
received_at           TIMESTAMPTZ  when the span was loaded into the store
===================== ============ ==========================================================

An extracted attribute whose value has another type than its column (say a string token count) is
left in ``otlp_rest`` and its column is NULL. ``otlp_rest`` is kept as protobuf bytes because turning
every attribute into JSON costs more than the rest of ingest together. Decode it with
``SpanStore.decode_otlp(otlp_rest)`` (attributes, events and links as JSON-compatible values, bytes as
base64) or with any OTLP library (``opentelemetry.proto.trace.v1.trace_pb2.Span.FromString``); its
attributes are in no particular order. Bytes values become base64 strings and non-finite numbers
strings in ``resource_attributes``. Table ``agenttrace_meta(key, value)`` holds ``schema_version``
(currently 2; a store of another version is refused with a clear error, never rewritten).

Example query, p95 latency per stage of one run::

    SELECT stage, quantile_cont(duration_ns / 1e9, 0.95) AS p95_s, count(*) AS calls
    FROM spans WHERE run_id = 'run-1' AND stage IS NOT NULL GROUP BY stage ORDER BY p95_s DESC

and the other attributes of the slowest request spans, in Python::

    rows = store.query("SELECT otlp_rest FROM spans WHERE kind = 'SERVER' ORDER BY duration_ns DESC LIMIT 5")
    print([SpanStore.decode_otlp(otlp)["attributes"] for (otlp,) in rows if otlp is not None])
"""

from __future__ import annotations

from agenttrace.store._ingest import IngestStats, Overloaded
from agenttrace.store._limits import DEFAULT_MAX_ATTRIBUTE_LENGTH, DEFAULT_MAX_SPAN_BYTES, TRIMMED_KEY, Limits
from agenttrace.store._reader import RunSummary, SpanStore, StoreError
from agenttrace.store._remote import CollectorInfo, RemoteStore, StoreReader, open_reader
from agenttrace.store._schema import COLUMNS, SCHEMA_VERSION

__all__ = [
    "COLUMNS",
    "DEFAULT_MAX_ATTRIBUTE_LENGTH",
    "DEFAULT_MAX_SPAN_BYTES",
    "SCHEMA_VERSION",
    "TRIMMED_KEY",
    "CollectorInfo",
    "IngestStats",
    "Limits",
    "Overloaded",
    "RemoteStore",
    "RunSummary",
    "SpanStore",
    "StoreError",
    "StoreReader",
    "open_reader",
]
