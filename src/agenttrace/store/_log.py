"""The write-ahead log: a directory of segment files, each one fsynced and atomically renamed into place.

A segment is named ``<time>-<pid>-<seq>-<longest>-<spans>.tsv``: ``<longest>`` is the length of its longest
line in bytes (so the loader can tell DuckDB's CSV reader how long a line may be: there is no fixed line
size limit) and ``<spans>`` its number of lines. Segments of earlier versions have no ``<longest>``: their
file size bounds it.
Segments that cannot be loaded are moved to ``rejected/`` inside the log directory.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

SEGMENT_SUFFIX = ".tsv"
REJECTED_DIR = "rejected"
DEFAULT_MAX_LINE = 2_000_000  # DuckDB's default max_line_size: used for segments that do not say


def segment_dir(path: Path) -> Path:
    """The write-ahead log directory that belongs to the database file ``path``."""
    return path.with_name(path.name + ".ingest")


def fsync_dir(path: Path) -> None:
    """Make a rename or deletion in directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def segment_spans(path: Path) -> int:
    """The span count a segment's name ends with.

    Raises:
        ValueError: The name is not a segment name.
    """
    return int(path.stem.rpartition("-")[2])


def segment_longest_line(path: Path) -> int:
    """The longest line of a segment as its name gives it; for older names, a bound from the file size."""
    parts = path.stem.split("-")
    if len(parts) == 5 and parts[3].isdigit():
        return int(parts[3])
    try:
        return max(DEFAULT_MAX_LINE, path.stat().st_size)  # no line is longer than its file
    except OSError:
        return DEFAULT_MAX_LINE


def longest_line(chunks: Sequence[bytes]) -> int:
    """An upper bound of the longest line in ``chunks`` (each a whole number of lines), in bytes.

    A chunk no longer than DuckDB's default line limit counts as its length: exact enough, and no split.
    """
    longest = 0
    for chunk in chunks:
        size = len(chunk) if len(chunk) <= DEFAULT_MAX_LINE else max(map(len, chunk.split(b"\n")))
        longest = max(longest, size)
    return longest


def write_segment(directory: Path, chunks: Sequence[bytes], spans: int, seq: int) -> Path:
    """Write ``chunks`` as one durable segment holding ``spans`` spans; return its path.

    Raises:
        OSError: The segment cannot be written (nothing is left under a segment name).
    """
    name = f"{time.time_ns():020d}-{os.getpid()}-{seq:09d}-{longest_line(chunks)}-{spans}"
    tmp = directory / (name + ".tmp")
    final = directory / (name + SEGMENT_SUFFIX)
    with open(tmp, "wb") as file:
        file.writelines(chunks)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, final)
    fsync_dir(directory)
    return final
