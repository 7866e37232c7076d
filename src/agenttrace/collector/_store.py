"""``SpanStore``: the DuckDB file holding the spans, its log replay and a small read API."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from agenttrace.collector._schema import CREATE_STATEMENTS, insert_from_segments_sql

SEGMENT_SUFFIX = ".jsonl"


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


def segment_dir(path: Path) -> Path:
    """The write-ahead log directory that belongs to the database file ``path``."""
    return path.with_name(path.name + ".ingest")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
            StoreError: The file is locked by a running collector or is not a DuckDB database.
        """
        file = Path(path)
        if read_only and not file.exists():
            raise StoreError(f"no span store at {file}")
        try:
            connection = duckdb.connect(str(file), read_only=read_only)
        except duckdb.IOException as exc:
            message = str(exc).splitlines()[0]
            if "lock" in message.lower():
                message = f"{file} is in use by another process (a running collector?)"
            raise StoreError(message) from None
        except duckdb.Error as exc:
            raise StoreError(f"cannot open {file}: {str(exc).splitlines()[0]}") from None
        store = cls(connection, file)
        if not read_only:
            for statement in CREATE_STATEMENTS:
                connection.execute(statement)
            store.segments.mkdir(exist_ok=True)
            store.recover()
        return store

    def __enter__(self) -> SpanStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def recover(self) -> int:
        """Load the log segments left by a previous process; return how many were loaded."""
        done = {row[0] for row in self._db.execute("SELECT name FROM agenttrace_loaded").fetchall()}
        pending: list[Path] = []
        for entry in sorted(self.segments.iterdir()):
            if entry.suffix != SEGMENT_SUFFIX or entry.name in done:
                # Unfinished (never acknowledged) segments and already loaded ones.
                entry.unlink()
            else:
                pending.append(entry)
        self.load(pending)
        return len(pending)

    def load(self, files: list[Path]) -> None:
        """Insert the rows of log segments ``files`` in one transaction, then delete the files.

        The names are recorded in the same transaction, so a crash between commit and deletion
        never loads a segment twice.
        """
        if not files:
            return
        self._db.execute("BEGIN TRANSACTION")
        try:
            self._db.execute("DELETE FROM agenttrace_loaded")
            self._db.execute(insert_from_segments_sql(), {"files": [str(f) for f in files]})
            self._db.executemany("INSERT INTO agenttrace_loaded VALUES (?)", [[f.name] for f in files])
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        for file in files:
            file.unlink()
        _fsync_dir(self.segments)

    def count(self) -> int:
        """The number of stored spans."""
        row = self._db.execute("SELECT count(*) FROM spans").fetchone()
        return int(row[0]) if row else 0

    def list_runs(self) -> list[RunSummary]:
        """Summarise each load run: first/last span time, requests, span count.

        Requests are SERVER spans and spans carrying the request roll-up (`agenttrace.request` blocks).
        """
        rows = self._db.execute(
            """
            SELECT run_id, min(start_ns), max(end_ns),
                count(*) FILTER (WHERE kind = 'SERVER' OR llm_calls IS NOT NULL), count(*)
            FROM spans GROUP BY run_id ORDER BY min(start_ns), run_id
            """
        ).fetchall()
        return [
            RunSummary(run_id, _timestamp(first), _timestamp(last), int(requests), int(spans))
            for run_id, first, last, requests, spans in rows
        ]

    def query(self, sql: str, parameters: Any = None) -> list[tuple[Any, ...]]:
        """Run a read query on the store and return all rows."""
        result: list[tuple[Any, ...]] = self._db.execute(sql, parameters).fetchall()
        return result


def _timestamp(ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.timezone.utc)
