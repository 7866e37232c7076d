"""``CollectorConfig``: the collector's settings and their defaults, the one place the CLI reads them from.

Imports nothing heavy, so the command line can show the defaults without the collector extra installed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MAX_BODY = 16 * 1024 * 1024
DEFAULT_MAX_ATTRIBUTE_LENGTH = 16_384  # the same as agenttrace.store's; not imported: this module stays light
DEFAULT_MAX_SPAN_BYTES = 1024 * 1024


def default_max_attribute_length() -> int:
    """``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`` when set to a positive number, else ``DEFAULT_MAX_ATTRIBUTE_LENGTH``."""
    value = os.environ.get("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_MAX_ATTRIBUTE_LENGTH


@dataclass
class CollectorConfig:
    """Settings of an embedded collector; ``None`` for an address turns that receiver off."""

    db: Path = Path("agenttrace.duckdb")
    http: str | None = "127.0.0.1:4318"
    grpc: str | None = "127.0.0.1:4317"
    forward: str | None = None
    token: str | None = None
    max_body: int = DEFAULT_MAX_BODY
    max_pending_spans: int = 1_000_000
    load_interval: float = 0.5
    workers: int = 1
    # Store size limits (see agenttrace.store): longer attribute values are trimmed, larger spans rejected.
    max_attribute_length: int = field(default_factory=default_max_attribute_length)
    max_span_bytes: int = DEFAULT_MAX_SPAN_BYTES
    # HTTP receiver limits: slow, idle or oversized clients cannot hold the receiver.
    read_timeout: float = 10.0
    """Seconds a client has to send a request head, and between two reads of its body (then 408)."""
    keepalive_timeout: float = 5.0
    """Seconds an idle keep-alive connection stays open between requests."""
    max_header_bytes: int = 64 * 1024
    """Largest request head (request line and headers) in bytes (then 431)."""
    max_connections: int = 1000
    """Open HTTP connections; beyond it a new connection gets 503 and is closed."""
    ui: bool = True
    """Serve the live page at ``/ui/`` next to the query API."""
