"""The common loader: OTLP/JSON export requests into an in-memory DuckDB span store.

Every file-or-HTTP source (Jaeger, the Collector's file exporter) carries OTLP/JSON. Each body goes through the
collector's OTLP/JSON decoding (hex ids, span by span validation) and the store's ``to_batch``, exactly as a span
sent to the embedded collector would, and the resulting log lines are loaded into a fresh in-memory database with
the store's schema and loader SQL. So the report runs the same SQL on the same columns whatever the source.
A span seen twice (the same trace returned by two Jaeger searches) is loaded once.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from agenttrace.collector._decode import BadRequest, decode_json
from agenttrace.store._rows import to_batch
from agenttrace.store._schema import CREATE_STATEMENTS, insert_from_segments_sql

_KEY_BYTES = 32 + 1 + 16  # "<trace id hex>\t<span id hex>": the start of every log line
_LINE_MARGIN = 1024


class SourceError(RuntimeError):
    """A source cannot be read; the message is meant for the user (one line)."""


def memory_store() -> Any:
    """A new in-memory DuckDB database with the span store's tables."""
    connection = duckdb.connect(":memory:")
    for statement in CREATE_STATEMENTS:
        connection.execute(statement)
    return connection


@dataclass
class Loaded:
    """Spans of a source in an in-memory span store, ready for ``build_report``."""

    connection: Any
    source: str
    spans: int
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)
    #: Where the report's span queries run instead (``RunData``'s pushdown); ``None``: on ``connection``.
    pushdown: Any = None

    def close(self) -> None:
        """Free the in-memory database."""
        self.connection.close()


class JsonLoader:
    """Collects OTLP/JSON export requests, then loads their spans (once each) into an in-memory store."""

    def __init__(self) -> None:
        self._lines: list[bytes] = []
        self._seen: set[bytes] = set()
        self.rejected = 0
        self.reasons: list[str] = []

    def add(self, body: bytes, where: str) -> int:
        """Decode one OTLP/JSON ``ExportTraceServiceRequest`` (or Jaeger's ``TracesData``) and keep its new spans.

        Returns:
            The number of spans in ``body`` (new or not), to tell a full search page.

        Raises:
            SourceError: ``body`` is not OTLP/JSON; the message names ``where``.
        """
        try:
            decoded = decode_json(body)
        except BadRequest as exc:
            raise SourceError(f"{where}: {exc}") from None
        batch = to_batch(decoded.request)
        reasons = decoded.reasons + batch.reasons
        self.rejected += len(reasons)
        self.reasons.extend(reasons)
        lines = batch.lines.split(b"\n")[:-1]  # the text ends with a newline
        for line in lines:
            key = line[:_KEY_BYTES]
            if key not in self._seen:
                self._seen.add(key)
                self._lines.append(line)
        return len(lines)

    def load(self, source: str) -> Loaded:
        """The kept spans in a new in-memory store."""
        connection = memory_store()
        if self._lines:
            longest = max(map(len, self._lines)) + _LINE_MARGIN
            with tempfile.TemporaryDirectory(prefix="agenttrace-source-") as directory:
                file = Path(directory) / "spans.tsv"
                file.write_bytes(b"\n".join(self._lines) + b"\n")
                connection.execute(insert_from_segments_sql(longest), {"files": [str(file)]})
        return Loaded(connection, source, len(self._lines), self.rejected, sorted(set(self.reasons)))
