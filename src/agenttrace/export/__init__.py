"""Export: OpenTelemetry SDK set-up from the ``OTEL_*`` variables, drop accounting and span processors.

This is the only part of agenttrace (besides the collector and ``agenttrace.testing``) that imports the
OpenTelemetry SDK; the instrumentation needs the API only.

Example:
    >>> from agenttrace.export import CountingSpanProcessor, RunIdentityProcessor  # doctest: +SKIP
    >>> provider.add_span_processor(RunIdentityProcessor())  # doctest: +SKIP
    >>> provider.add_span_processor(CountingSpanProcessor(OTLPSpanExporter()))  # doctest: +SKIP
"""

from __future__ import annotations

from agenttrace.export._configure import ConfigurationError, Configured, configure
from agenttrace.export._drops import CountingSpanProcessor
from agenttrace.export._identity import RunIdentityProcessor

__all__ = ["ConfigurationError", "Configured", "CountingSpanProcessor", "RunIdentityProcessor", "configure"]
