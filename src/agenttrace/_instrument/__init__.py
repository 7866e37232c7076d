"""Instrumenting: stages, streams, usage extraction, the request roll-up, context, providers, metrics."""
