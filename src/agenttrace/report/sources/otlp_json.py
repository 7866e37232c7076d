"""OTLP/JSON files as the OpenTelemetry Collector's ``file`` exporter writes them: one export request per line.

A file may also hold one (pretty-printed) request as a whole, as ``jq`` or a test writes it. Gzip-compressed
files (``.gz``, or the exporter's ``compression: gzip`` output) are read transparently.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from agenttrace.report.sources._load import JsonLoader, Loaded, SourceError

_GZIP_MAGIC = b"\x1f\x8b"


def _read(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None
    if data.startswith(_GZIP_MAGIC):
        try:
            return gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise SourceError(f"{path}: invalid gzip: {exc}") from None
    return data


def _requests(path: Path, data: bytes) -> Iterator[tuple[bytes, str]]:
    """The export requests of one file, each with where it is (``file:line``)."""
    if not data.strip():
        return  # the exporter has written nothing yet
    lines = data.split(b"\n")
    first = next((line for line in lines if line.strip()), b"")
    try:
        json.loads(first)
    except ValueError:  # not one request per line: the whole file is one (pretty-printed) request
        yield data, str(path)
        return
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield line, f"{path}:{number}"


def load_otlp_json(paths: Sequence[str | os.PathLike[str]]) -> Loaded:
    """Load every span of the OTLP/JSON files ``paths`` into an in-memory span store.

    Raises:
        SourceError: A file cannot be read or a line is not an OTLP/JSON export request (the message says
            which file and line).
    """
    loader = JsonLoader()
    for name in paths:
        path = Path(name)
        for body, where in _requests(path, _read(path)):
            loader.add(body, where)
    return loader.load(", ".join(str(p) for p in paths))
