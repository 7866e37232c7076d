"""agenttrace for Locust: import it in a locustfile and every HTTP user joins the server's traces.

``import agenttrace.locust`` adds ``--agenttrace-run-id`` and ``--agenttrace-jaeger-url``, sends ``traceparent``
and ``baggage`` (run id, scenario = request name, virtual user) with every HttpUser / FastHttpUser request,
reads agenttrace's ``Server-Timing`` from every response, and at the end of the run prints a per-stage table
(calls/request, p50/p95/p99, LLM and tool calls and tokens per request) and the trace ids of the failed and
slowest requests; ``--csv PREFIX`` also writes ``PREFIX_agenttrace_stages.csv`` and
``PREFIX_agenttrace_costs.csv``. Workers' statistics merge on the master. Locust's own statistics are untouched.

Example:
    >>> # locustfile.py
    >>> import agenttrace.locust  # noqa: F401  # doctest: +SKIP
    >>> from locust import FastHttpUser, task  # doctest: +SKIP
"""

from __future__ import annotations

try:
    import locust  # noqa: F401
except ImportError:  # pragma: no cover - exercised in a subprocess without Locust
    raise ImportError("agenttrace.locust needs Locust: pip install 'agenttrace[locust]'") from None

from agenttrace._loadrun.stats import RunStats, StageStats
from agenttrace.locust._plugin import run_id, state

__all__ = ["RunStats", "StageStats", "run_id", "state"]
