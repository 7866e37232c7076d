"""The span processor that puts the load-run identity on every span of a request, whoever starts it."""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span, SpanProcessor

from agenttrace._instrument.rollup import current_rollup


class RunIdentityProcessor(SpanProcessor):
    """Copies the load-run identity of the current request onto every span, whoever starts it."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        rollup = current_rollup(parent_context)
        if rollup is not None and rollup.identity:
            span.set_attributes(rollup.identity)
