"""agenttrace: find where the time goes when an AI agent service is under load.

Mark the stages of your agent, add the ASGI middleware, run your load tool, and get OpenTelemetry traces
plus a per-run bottleneck report. The instrumentation needs the OpenTelemetry API only: the SDK is imported
when :func:`configure` is first called (or by :mod:`agenttrace.export`), not by ``import agenttrace``.

Example:
    >>> import agenttrace
    >>> agenttrace.configure(service_name="support-agent")  # doctest: +SKIP
    >>> @agenttrace.stage("llm_call", model="gpt-4o-mini", provider="openai")  # doctest: +SKIP
    ... async def call_llm(messages): ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agenttrace._asgi.middleware import AgentTraceMiddleware
from agenttrace._instrument.active import ActiveStage, record_usage
from agenttrace._instrument.context import with_context
from agenttrace._instrument.request import request
from agenttrace._instrument.rollup import RequestRollup, StageTotals
from agenttrace._instrument.stage import stage
from agenttrace._version import __version__

if TYPE_CHECKING:
    from agenttrace.export import ConfigurationError, Configured, configure

__all__ = [
    "ActiveStage",
    "AgentTraceMiddleware",
    "ConfigurationError",
    "Configured",
    "RequestRollup",
    "StageTotals",
    "__version__",
    "configure",
    "record_usage",
    "request",
    "stage",
    "with_context",
]

_LAZY = frozenset({"configure", "Configured", "ConfigurationError"})


def __getattr__(name: str) -> Any:
    # The SDK set-up loads the OpenTelemetry SDK: only when it is used, so that instrumenting costs the API alone.
    if name in _LAZY:
        from agenttrace import export

        return getattr(export, name)
    raise AttributeError(f"module 'agenttrace' has no attribute {name!r}")
