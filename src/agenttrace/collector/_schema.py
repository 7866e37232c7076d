"""The DuckDB schema of the span store: column names, types and the DDL, in one place."""

from __future__ import annotations

SCHEMA_VERSION = 1

# (column, DuckDB type). The order is the order of the columnar batches written to the log.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("trace_id", "VARCHAR"),
    ("span_id", "VARCHAR"),
    ("parent_span_id", "VARCHAR"),
    ("name", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("start_ns", "BIGINT"),
    ("end_ns", "BIGINT"),
    ("duration_ns", "BIGINT"),
    ("status_code", "VARCHAR"),
    ("status_message", "VARCHAR"),
    ("service_name", "VARCHAR"),
    ("stage", "VARCHAR"),
    ("run_id", "VARCHAR"),
    ("scenario", "VARCHAR"),
    ("virtual_user", "VARCHAR"),
    ("http_route", "VARCHAR"),
    ("http_method", "VARCHAR"),
    ("http_status_code", "BIGINT"),
    ("input_tokens", "BIGINT"),
    ("output_tokens", "BIGINT"),
    ("gen_ai_operation", "VARCHAR"),
    ("gen_ai_model", "VARCHAR"),
    ("llm_calls", "BIGINT"),
    ("tool_calls", "BIGINT"),
    ("error_type", "VARCHAR"),
    ("stages", "VARCHAR[]"),
    ("stage_calls", "BIGINT[]"),
    ("stage_durations", "DOUBLE[]"),
    ("attributes", "JSON"),
    ("resource_attributes", "JSON"),
    ("scope_name", "VARCHAR"),
    ("scope_version", "VARCHAR"),
    ("events", "JSON"),
    ("links", "JSON"),
)
COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in COLUMNS)

CREATE_STATEMENTS: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS spans ("
    + ", ".join(f"{name} {type_}" for name, type_ in COLUMNS)
    + ", received_at TIMESTAMPTZ DEFAULT current_timestamp)",
    "CREATE TABLE IF NOT EXISTS agenttrace_meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    f"INSERT INTO agenttrace_meta VALUES ('schema_version', '{SCHEMA_VERSION}') ON CONFLICT DO NOTHING",
    # The log segments loaded by the last load transaction (see SpanStore.load).
    "CREATE TABLE IF NOT EXISTS agenttrace_loaded (name VARCHAR)",
)

_JSON_COLUMNS = {"attributes", "resource_attributes", "events", "links"}


def insert_from_segments_sql() -> str:
    """SQL inserting every row of the log segments given as ``$files`` (one columnar JSON batch a line)."""
    # Nested JSON values are read as JSON so they stay text; everything else gets its final type on read.
    read_types = {name: ("JSON" if name in _JSON_COLUMNS else type_) + "[]" for name, type_ in COLUMNS}
    spec = "{" + ", ".join(f"'{name}': '{type_}'" for name, type_ in read_types.items()) + "}"
    names = ", ".join(COLUMN_NAMES)
    unnest = ", ".join(f"UNNEST({name})" for name in COLUMN_NAMES)
    return (
        f"INSERT INTO spans ({names}) SELECT {unnest} FROM read_json($files, columns={spec}, "
        "format='newline_delimited', maximum_object_size=1073741824)"
    )
