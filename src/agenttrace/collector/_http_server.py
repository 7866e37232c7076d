"""The OTLP/HTTP receiver as uvicorn serves it: built in one place for the collector and its workers."""

from __future__ import annotations

import uvicorn

from agenttrace.collector._config import CollectorConfig
from agenttrace.collector._limits import ConnectionLimits, protocol_class
from agenttrace.collector._otlp_http import OtlpHttpApp
from agenttrace.collector._receiver import Receiver


def check_http_limits(config: CollectorConfig) -> None:
    """Refuse limits that cannot work.

    Raises:
        ValueError: A limit is not positive (the message names the command-line option).
    """
    for option, value in (
        ("--max-body", config.max_body),
        ("--read-timeout", config.read_timeout),
        ("--keepalive-timeout", config.keepalive_timeout),
        ("--max-header-bytes", config.max_header_bytes),
        ("--max-connections", config.max_connections),
    ):
        if not value > 0:
            raise ValueError(f"{option} must be positive, got {value}")


def http_server_config(config: CollectorConfig, receiver: Receiver) -> uvicorn.Config:
    """The uvicorn settings, app included, of an OTLP/HTTP receiver storing through ``receiver``."""
    app = OtlpHttpApp(receiver, max_body=config.max_body, read_timeout=config.read_timeout)
    limits = ConnectionLimits(
        read_timeout=config.read_timeout,
        keepalive_timeout=config.keepalive_timeout,
        max_header_bytes=config.max_header_bytes,
        max_connections=config.max_connections,
    )
    return uvicorn.Config(
        app,
        http=protocol_class(limits),
        lifespan="off",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )
