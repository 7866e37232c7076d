"""The embedded agenttrace collector: OTLP/HTTP + OTLP/gRPC trace receiver writing to DuckDB.

Needs the ``collector`` extra (``pip install 'agenttrace[collector]'``). Run it with
``agenttrace collector`` or in-process::

    from agenttrace.collector import Collector, CollectorConfig
    from agenttrace.store import SpanStore

    with Collector(CollectorConfig(db=Path("run.duckdb"))):
        ...  # point OTEL_EXPORTER_OTLP_ENDPOINT at http://127.0.0.1:4318 and load-test
    with SpanStore.open("run.duckdb") as store:
        print(store.list_runs())

The spans go into a span store: see :mod:`agenttrace.store` for its layout and read API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agenttrace.collector._config import CollectorConfig

if TYPE_CHECKING:
    from agenttrace.collector._server import Collector

__all__ = ["Collector", "CollectorConfig"]


def __getattr__(name: str) -> Any:
    # The servers (uvicorn, grpc) load on first use, so reading the settings needs no collector extra.
    if name == "Collector":
        from agenttrace.collector._server import Collector

        return Collector
    raise AttributeError(f"module 'agenttrace.collector' has no attribute {name!r}")
