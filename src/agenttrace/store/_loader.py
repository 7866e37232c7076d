"""Loading write-ahead log segments into DuckDB, and setting aside the ones that cannot be loaded.

Segments are loaded in one transaction (DuckDB's CSV reader, no Python per span). When that fails on
the data (a segment damaged on disk, a line DuckDB refuses), each segment is retried alone and the ones
that still fail are moved to ``<db>.ingest/rejected/`` with one error log line: a bad segment never
blocks the others, and nothing is deleted. Other failures (disk full, I/O errors) leave the segments in
place to be retried.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from agenttrace.store._log import REJECTED_DIR, fsync_dir, segment_longest_line, segment_spans
from agenttrace.store._schema import insert_from_segments_sql

log = logging.getLogger("agenttrace.store")
_LINE_MARGIN = 1024
# Errors caused by a segment's content: retrying the same bytes can never succeed.
_DATA_ERRORS = (duckdb.InvalidInputException, duckdb.ConversionException, ValueError)


@dataclass
class LoadResult:
    """What one call of ``load_segments`` did (span counts from the segment names)."""

    loaded_spans: int = 0
    quarantined_spans: int = 0
    quarantined_segments: int = 0


def insert_segments(connection: Any, files: list[Path]) -> None:
    """Insert the rows of segments ``files`` in one transaction, then delete the files.

    The names are recorded in the same transaction, so a crash between commit and deletion never loads
    a segment twice.

    Raises:
        duckdb.Error: Nothing was inserted (the transaction was rolled back).
        ValueError: A file name is not a segment name.
    """
    if not files:
        return
    max_line = max(segment_longest_line(f) for f in files) + _LINE_MARGIN
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.execute("DELETE FROM agenttrace_loaded")
        connection.execute(insert_from_segments_sql(max_line), {"files": [str(f) for f in files]})
        connection.executemany("INSERT INTO agenttrace_loaded VALUES (?)", [[f.name] for f in files])
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    for file in files:
        file.unlink()
    fsync_dir(files[0].parent)


def _spans(file: Path) -> int:
    try:
        return segment_spans(file)
    except ValueError:
        return 0  # not named by a writer of this log, so never counted as pending either


def load_segments(connection: Any, files: list[Path]) -> LoadResult:
    """Load ``files``; set aside each one whose content DuckDB refuses.

    Raises:
        duckdb.Error: A failure that is not about the content (the files stay, to be retried).
    """
    result = LoadResult()
    try:
        insert_segments(connection, files)
    except _DATA_ERRORS as exc:
        if len(files) == 1:
            _quarantine(files[0], exc, result)
            return result
        for file in files:
            one = load_segments(connection, [file])
            result.loaded_spans += one.loaded_spans
            result.quarantined_spans += one.quarantined_spans
            result.quarantined_segments += one.quarantined_segments
        return result
    result.loaded_spans = sum(_spans(f) for f in files)
    return result


def _reason(exc: Exception) -> str:
    """An error in one line: DuckDB's CSV errors go on to quote the offending line (maybe megabytes) and advice.

    Keeps the first line and the one after the quoted line (what was wrong), each cut to 200 characters.
    """
    lines = [line for line in str(exc).strip().split("\n") if line.strip()]
    parts = [lines[0][:200]] if lines else [type(exc).__name__]
    if len(lines) > 2 and lines[1].startswith("Original Line:") and not lines[2].startswith("Possible fixes"):
        parts.append(lines[2][:200])
    return ": ".join(parts)


def _quarantine(file: Path, exc: Exception, result: LoadResult) -> None:
    rejected = file.parent / REJECTED_DIR
    rejected.mkdir(exist_ok=True)
    file.rename(rejected / file.name)
    fsync_dir(file.parent)
    spans = _spans(file)
    result.quarantined_spans += spans
    result.quarantined_segments += 1
    log.error(
        "agenttrace store: log segment %s (%d spans) cannot be loaded, moved to %s: %s",
        file.name,
        spans,
        rejected,
        _reason(exc),
    )
