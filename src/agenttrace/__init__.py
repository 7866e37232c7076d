"""agenttrace: find where the time goes when an AI agent service is under load.

Mark the stages of your agent, add the ASGI middleware, run your load tool, and get OpenTelemetry traces
plus a per-run bottleneck report.

Example:
    >>> import agenttrace
    >>> agenttrace.configure(service_name="support-agent")  # doctest: +SKIP
    >>> @agenttrace.stage("llm_call", model="gpt-4o-mini", provider="openai")  # doctest: +SKIP
    ... async def call_llm(messages): ...
"""

from __future__ import annotations

from agenttrace._active import ActiveStage, record_usage
from agenttrace._configure import ConfigurationError, Configured, configure
from agenttrace._context import with_context
from agenttrace._drops import CountingSpanProcessor, RunIdentityProcessor
from agenttrace._middleware import AgentTraceMiddleware
from agenttrace._request import RequestScope, StageTotals
from agenttrace._request_span import request
from agenttrace._stage import stage
from agenttrace._version import __version__

__all__ = [
    "ActiveStage",
    "AgentTraceMiddleware",
    "ConfigurationError",
    "Configured",
    "CountingSpanProcessor",
    "RequestScope",
    "RunIdentityProcessor",
    "StageTotals",
    "__version__",
    "configure",
    "record_usage",
    "request",
    "stage",
    "with_context",
]
