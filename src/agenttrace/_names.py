"""Attribute and metric names agenttrace emits, in one place.

OpenTelemetry semantic-convention names wherever one exists (GenAI, HTTP, error); ``agenttrace.*`` only
where no convention fits. Other tools (the report, the collector store, dashboards) rely on these names.
"""

from __future__ import annotations

from typing import Final

# --- GenAI semantic conventions -------------------------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"

OP_CHAT: Final = "chat"
OP_EXECUTE_TOOL: Final = "execute_tool"
#: Operations that are model calls (counted as LLM calls).
LLM_OPERATIONS: Final = frozenset({"chat", "text_completion", "generate_content", "embeddings"})

# --- General conventions ----------------------------------------------------------------------------
ERROR_TYPE: Final = "error.type"

# --- agenttrace's own names -------------------------------------------------------------------------
STAGE: Final = "agenttrace.stage"
RUN_ID: Final = "agenttrace.run_id"
SCENARIO: Final = "agenttrace.scenario"
USER: Final = "agenttrace.user"
#: The baggage keys copied from the load generator onto every span of a request, in this order.
IDENTITY_KEYS: Final = (RUN_ID, SCENARIO, USER)
#: How a stage or request ended when it did not simply complete: error, cancelled, closed, abandoned.
OUTCOME: Final = "agenttrace.outcome"

# Roll-up on the request span.
LLM_CALLS: Final = "agenttrace.llm_calls"
TOOL_CALLS: Final = "agenttrace.tool_calls"
#: Parallel arrays: stage names, how often each ran, and the summed seconds each took, in first-seen order.
STAGES: Final = "agenttrace.stages"
STAGE_CALLS: Final = "agenttrace.stage_calls"
STAGE_DURATIONS: Final = "agenttrace.stage_durations"

# --- Metrics ------------------------------------------------------------------------------------------
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_STAGE_DURATION: Final = "agenttrace.stage.duration"
METRIC_SPANS_DROPPED: Final = "agenttrace.spans.dropped"
METRIC_HTTP_SERVER_REQUEST_DURATION: Final = "http.server.request.duration"

# --- HTTP semantic conventions (the request span) -------------------------------------------------------
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_REQUEST_METHOD_ORIGINAL: Final = "http.request.method_original"
HTTP_ROUTE: Final = "http.route"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
URL_PATH: Final = "url.path"
URL_SCHEME: Final = "url.scheme"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
CLIENT_ADDRESS: Final = "client.address"
NETWORK_PROTOCOL_NAME: Final = "network.protocol.name"
NETWORK_PROTOCOL_VERSION: Final = "network.protocol.version"
USER_AGENT_ORIGINAL: Final = "user_agent.original"
#: Deliberately never recorded: query strings carry API keys.
URL_QUERY: Final = "url.query"

# --- agenttrace's own names on the request span ---------------------------------------------------------
#: Seconds from the request arriving at the middleware to the first non-empty body chunk being sent.
TIME_TO_FIRST_BYTE: Final = "agenttrace.response.time_to_first_byte"
#: ``True`` when the client went away before the response was complete.
CLIENT_DISCONNECTED: Final = "agenttrace.client_disconnected"

# --- Set by the collector's store ---------------------------------------------------------------------------
#: Keys of attributes whose values the collector cut to its attribute length limit.
TRIMMED_ATTRIBUTES: Final = "agenttrace.trimmed_attributes"
#: The resource attribute naming the service.
SERVICE_NAME: Final = "service.name"


def all_names() -> frozenset[str]:
    """Every name in this table (attribute keys and metric names)."""
    return frozenset(v for k, v in globals().items() if k.isupper() and isinstance(v, str) and "." in v)
