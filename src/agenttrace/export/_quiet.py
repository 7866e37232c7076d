"""Mutes the SDK's per-span "Queue full" log line: agenttrace counts those drops and reports the total once."""

from __future__ import annotations

import logging

_SDK_LOGGER = "opentelemetry.sdk._shared_internal"


class _QueueFullFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Queue full")


_filter = _QueueFullFilter()


def mute_queue_full() -> None:
    """Install the filter once (adding the same filter object twice is a no-op)."""
    logging.getLogger(_SDK_LOGGER).addFilter(_filter)
