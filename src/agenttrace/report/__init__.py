"""The per-run report: where the time of a load run goes (needs ``pip install 'agenttrace[report]'``).

``build_report`` turns one run of a span store into a :class:`Report`; the renderers format it as a table,
JSON (``schema_version`` 1) or markdown.
"""

from __future__ import annotations

from agenttrace.report.model import (
    SCHEMA_VERSION,
    Bottleneck,
    Concurrency,
    Costs,
    Distribution,
    Goodput,
    GroupStats,
    Report,
    RequestRef,
    RunOverview,
    StageStats,
)

__all__ = [
    "SCHEMA_VERSION",
    "Bottleneck",
    "Concurrency",
    "Costs",
    "Distribution",
    "Goodput",
    "GroupStats",
    "Report",
    "RequestRef",
    "RunOverview",
    "StageStats",
]
