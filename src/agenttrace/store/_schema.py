"""The DuckDB schema of the span store and the text format of the write-ahead log, in one place.

Each log line is one span: tab-separated fields in ``LOG_FIELDS`` order, read by DuckDB's CSV reader.
Every text that comes from a client is written as hex of its UTF-8 bytes, so no field ever holds a tab,
newline or quote and nothing needs escaping; an empty field is NULL, ``""`` is an empty string.
"""

from __future__ import annotations

SCHEMA_VERSION = 2

# (column, DuckDB type), the order of the ``spans`` table.
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
    ("resource_attributes", "JSON"),
    ("scope_name", "VARCHAR"),
    ("scope_version", "VARCHAR"),
    ("otlp_rest", "BLOB"),
)
COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in COLUMNS)

# Log field -> SQL turning it (the VARCHAR ``{}``) into its column value; fields in log-line order.
_HEX_TEXT = "decode(unhex({}))"
LOG_FIELDS: tuple[tuple[str, str], ...] = (
    ("trace_id", "{}"),
    ("span_id", "{}"),
    ("parent_span_id", "{}"),
    ("name", "coalesce(decode(unhex({})), '')"),
    ("kind", "{}"),
    ("start_ns", "CAST({} AS BIGINT)"),
    ("end_ns", "CAST({} AS BIGINT)"),
    ("status_code", "{}"),
    ("status_message", _HEX_TEXT),
    *((name, _HEX_TEXT) for name in ("stage", "run_id", "scenario", "virtual_user", "http_route", "http_method")),
    ("http_status_code", "CAST({} AS BIGINT)"),
    ("input_tokens", "CAST({} AS BIGINT)"),
    ("output_tokens", "CAST({} AS BIGINT)"),
    ("gen_ai_operation", _HEX_TEXT),
    ("gen_ai_model", _HEX_TEXT),
    ("llm_calls", "CAST({} AS BIGINT)"),
    ("tool_calls", "CAST({} AS BIGINT)"),
    ("error_type", _HEX_TEXT),
    ("stages", "CAST(CAST(decode(unhex({})) AS JSON) AS VARCHAR[])"),
    ("stage_calls", "CAST({} AS BIGINT[])"),
    ("stage_durations", "CAST({} AS DOUBLE[])"),
    ("otlp_rest", "unhex({})"),
    ("service_name", _HEX_TEXT),
    ("resource_attributes", "CAST(decode(unhex({})) AS JSON)"),
    ("scope_name", _HEX_TEXT),
    ("scope_version", _HEX_TEXT),
)
LOG_FIELD_NAMES: tuple[str, ...] = tuple(name for name, _ in LOG_FIELDS)

CREATE_STATEMENTS: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS spans ("
    + ", ".join(f"{name} {type_}" for name, type_ in COLUMNS)
    + ", received_at TIMESTAMPTZ DEFAULT current_timestamp)",
    "CREATE TABLE IF NOT EXISTS agenttrace_meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    f"INSERT INTO agenttrace_meta VALUES ('schema_version', '{SCHEMA_VERSION}') ON CONFLICT DO NOTHING",
    # The log segments loaded by the last load transaction (see SpanStore.load).
    "CREATE TABLE IF NOT EXISTS agenttrace_loaded (name VARCHAR)",
)


def insert_from_segments_sql(max_line_size: int) -> str:
    """SQL inserting every span of the log segments given as ``$files`` (see the module docstring).

    Args:
        max_line_size: The longest line DuckDB's CSV reader must accept (its buffer is made larger).
    """
    read_columns = "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in LOG_FIELD_NAMES) + "}"
    values = {name: sql.format(name) for name, sql in LOG_FIELDS}
    values["duration_ns"] = f"{values['end_ns']} - {values['start_ns']}"
    names = ", ".join(COLUMN_NAMES)
    select = ", ".join(values[name] for name in COLUMN_NAMES)
    return (
        f"INSERT INTO spans ({names}) SELECT {select} FROM read_csv($files, columns={read_columns}, delim='\\t', "
        "quote='\"', escape='\"', header=false, auto_detect=false, allow_quoted_nulls=false, "
        f"max_line_size={max_line_size}, buffer_size={max(32 * 1024 * 1024, 2 * max_line_size)})"
    )
