"""The read side: ``SpanStore`` opens the DuckDB file (replaying its log first when opened read-write) and queries it.

Every failure to open or read a store is a ``StoreError`` with a one-line message meant for the user.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from agenttrace.store._loader import LoadResult, insert_segments, load_segments
from agenttrace.store._log import SEGMENT_SUFFIX, segment_dir
from agenttrace.store._rows import attributes_dict
from agenttrace.store._schema import CREATE_STATEMENTS, SCHEMA_VERSION


class StoreError(RuntimeError):
    """The store cannot be opened or used; the message is meant for the user."""


@dataclass(frozen=True)
class RunSummary:
    """One load run in the store."""

    run_id: str | None
    first_span: dt.datetime
    last_span: dt.datetime
    requests: int
    spans: int


class SpanStore:
    """A span store: one DuckDB file plus the log of acknowledged spans not yet loaded into it.

    Opening a store read-write loads whatever the log still holds (spans acknowledged before a crash),
    so ``SpanStore.open(path).list_runs()`` always sees every acknowledged span.

    Example:
        >>> with SpanStore.open("agenttrace.duckdb") as store:  # doctest: +SKIP
        ...     for run in store.list_runs():
        ...         print(run.run_id, run.spans)
    """

    def __init__(self, connection: Any, path: Path) -> None:
        self._db = connection
        self.path = path
        self.segments = segment_dir(path)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, read_only: bool = False) -> SpanStore:
        """Open (creating if needed) the store at ``path`` and load any pending log segments.

        Raises:
            StoreError: The file is locked by a running collector, is not a span store (or not a DuckDB
                database at all), is damaged, or was written by an agenttrace of another schema version.
        """
        file = Path(path)
        if read_only and not file.exists():
            raise StoreError(f"no span store at {file}")
        damaged = f"{file} is damaged or not a DuckDB database"
        try:
            connection = duckdb.connect(str(file), read_only=read_only)
        except duckdb.Error as exc:
            if "lock" in _first_line(exc).lower():
                raise StoreError(f"{file} is in use by another process (a running collector?)") from None
            raise StoreError(f"{damaged}: {_first_line(exc)}") from None
        store = cls(connection, file)
        try:
            try:
                store._check_schema(read_only)
            except duckdb.Error as exc:
                raise StoreError(f"{damaged}: {_first_line(exc)}") from None
            if not read_only:
                for statement in CREATE_STATEMENTS:
                    connection.execute(statement)
                store.segments.mkdir(exist_ok=True)
                store.recover()
        except StoreError:
            connection.close()
            raise
        except (duckdb.Error, OSError) as exc:
            connection.close()
            raise StoreError(f"cannot open {file}: {_first_line(exc)}") from None
        return store

    def _check_schema(self, read_only: bool) -> None:
        """Refuse a store of another schema version (before its log is touched) and other databases."""
        tables = {row[0] for row in self._db.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "agenttrace_meta" not in tables:
            if tables or read_only:
                raise StoreError(f"{self.path} is a DuckDB database but not an agenttrace span store")
            return
        row = self._db.execute("SELECT value FROM agenttrace_meta WHERE key = 'schema_version'").fetchone()
        if row is None or row[0] != str(SCHEMA_VERSION):
            version = row[0] if row else "unknown"
            raise StoreError(
                f"{self.path} has span store schema version {version}; this agenttrace reads and writes "
                f"version {SCHEMA_VERSION}: use a new --db file"
            )

    @staticmethod
    def decode_otlp(otlp: bytes | None) -> dict[str, Any]:
        """Decode a span's ``otlp_rest`` column (a serialised OTLP ``Span``) into JSON-compatible values.

        Returns:
            ``{"attributes": {...}, "events": [{"name", "time_ns", "attributes"}],
            "links": [{"trace_id", "span_id", "attributes"}], "trace_state": str}``: the attributes not in
            a column, events and links (all empty for NULL). Bytes values become base64 strings.

        Example:
            >>> with SpanStore.open("agenttrace.duckdb", read_only=True) as store:  # doctest: +SKIP
            ...     for (otlp,) in store.query("SELECT otlp_rest FROM spans WHERE kind = 'SERVER'"):
            ...         print(SpanStore.decode_otlp(otlp)["attributes"].get("url.path"))
        """
        span = Span.FromString(otlp or b"")
        return {
            "attributes": attributes_dict(span.attributes),
            "events": [
                {"name": e.name, "time_ns": e.time_unix_nano, "attributes": attributes_dict(e.attributes)}
                for e in span.events
            ],
            "links": [
                {
                    "trace_id": ln.trace_id.hex(),
                    "span_id": ln.span_id.hex(),
                    "attributes": attributes_dict(ln.attributes),
                }
                for ln in span.links
            ],
            "trace_state": span.trace_state,
        }

    def __enter__(self) -> SpanStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def prepare_for_ingest(self) -> None:
        """Tune the connection for a collector that owns it: bulk loads while the receivers use the CPU.

        One DuckDB thread: the receivers (Python) need the other cores, and the CSV loads are small.
        Checkpoints at most every 256 MB of DuckDB log instead of 16 MB: each checkpoint rewrites and
        recompresses the newest row groups, so frequent ones multiply the cost of loading.
        """
        self._db.execute("SET threads = 1")
        self._db.execute("SET checkpoint_threshold = '256MB'")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def recover(self) -> LoadResult:
        """Load the log segments left by a previous process (setting aside any that cannot be loaded)."""
        done = {row[0] for row in self._db.execute("SELECT name FROM agenttrace_loaded").fetchall()}
        pending: list[Path] = []
        for entry in sorted(self.segments.iterdir()):
            if entry.is_dir():
                continue  # rejected/: segments set aside, kept for the user
            if entry.suffix != SEGMENT_SUFFIX or entry.name in done:
                # Unfinished (never acknowledged) segments and already loaded ones.
                entry.unlink()
            else:
                pending.append(entry)
        return self.load_or_set_aside(pending)

    def load(self, files: list[Path]) -> None:
        """Insert the rows of log segments ``files`` in one transaction, then delete the files.

        Raises:
            duckdb.Error: Nothing was loaded.
        """
        insert_segments(self._db, files)

    def load_or_set_aside(self, files: list[Path]) -> LoadResult:
        """Load log segments ``files``; move those DuckDB cannot load to ``<db>.ingest/rejected/``.

        Raises:
            duckdb.Error: Loading failed for another reason than the content; the files are kept.
        """
        return load_segments(self._db, files)

    def cursor(self) -> Any:
        """A DuckDB connection of its own to this store, for one thread's reads and temporary tables.

        Close it when done. A collector holds the file read-write; its query API reads through cursors while
        the loader writes through the store itself.
        """
        return self._db.cursor()

    def reader(self) -> SpanStore:
        """A read view of this store on its own cursor (see :meth:`cursor`), for another thread."""
        return SpanStore(self.cursor(), self.path)

    def count(self) -> int:
        """The number of stored spans."""
        row = self._db.execute("SELECT count(*) FROM spans").fetchone()
        return int(row[0]) if row else 0

    def list_runs(self) -> list[RunSummary]:
        """Summarise each load run: first/last span time, requests, span count.

        Requests are SERVER spans and spans carrying the request roll-up (`agenttrace.request` blocks).
        """
        rows = self._query(
            """
            SELECT run_id, min(start_ns), max(end_ns),
                count(*) FILTER (WHERE kind = 'SERVER' OR llm_calls IS NOT NULL), count(*)
            FROM spans GROUP BY run_id ORDER BY min(start_ns), run_id
            """
        )
        return [
            RunSummary(run_id, _timestamp(first), _timestamp(last), int(requests), int(spans))
            for run_id, first, last, requests, spans in rows
        ]

    def query(self, sql: str, parameters: Any = None) -> list[tuple[Any, ...]]:
        """Run a read query on the store and return all rows."""
        result: list[tuple[Any, ...]] = self._db.execute(sql, parameters).fetchall()
        return result

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        """``query`` for the store's own queries: a failure means the store is damaged."""
        try:
            return self.query(sql)
        except duckdb.Error as exc:
            raise StoreError(f"cannot read {self.path}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().partition("\n")[0][:300]


def _timestamp(ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.timezone.utc)
