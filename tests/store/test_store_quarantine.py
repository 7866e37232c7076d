"""Issue 8: a log segment DuckDB cannot load is set aside with one error line; it never blocks the rest."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agenttrace.collector._decode import decode_protobuf
from agenttrace.store import SpanStore
from agenttrace.store._ingest import Ingestor
from agenttrace.store._limits import Limits
from agenttrace.store._log import write_segment
from agenttrace.store._rows import to_batch
from tests.collector.conftest import otlp_request

GARBAGE = b"not\ta\tspan\n"


def _lines(spans: int, start: int) -> bytes:
    return to_batch(decode_protobuf(otlp_request(spans, start=start)).request).lines


def test_damaged_segments_are_set_aside_when_the_store_opens(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "spans.duckdb"
    SpanStore.open(db).close()
    log_dir = tmp_path / "spans.duckdb.ingest"
    write_segment(log_dir, [_lines(3, 10**18)], 3, seq=1)
    bad = write_segment(log_dir, [GARBAGE], 7, seq=2)
    (log_dir / "junk.tsv").write_bytes(b"\x00\xff garbage")
    write_segment(log_dir, [_lines(4, 2 * 10**18)], 4, seq=3)
    with caplog.at_level(logging.ERROR, logger="agenttrace.store"), SpanStore.open(db) as store:
        assert store.count() == 7
    rejected = log_dir / "rejected"
    assert sorted(p.name for p in log_dir.iterdir()) == ["rejected"]
    assert sorted(p.name for p in rejected.iterdir()) == sorted([bad.name, "junk.tsv"])
    assert (rejected / bad.name).read_bytes() == GARBAGE  # kept as it was
    assert sorted(r.getMessage() for r in caplog.records) == [
        f"agenttrace store: log segment {bad.name} (7 spans) cannot be loaded, moved to {rejected}: "
        "Invalid Input Error: CSV Error on Line: 1: Expected Number of Columns: 31 Found: 3",
        f"agenttrace store: log segment junk.tsv (0 spans) cannot be loaded, moved to {rejected}: "
        "Invalid Input Error: CSV Error on Line: 1: Invalid unicode (byte sequence mismatch) detected. "
        "This file is not utf-8 encoded.",
    ]
    # Opening again neither retries nor loses anything.
    caplog.clear()
    with SpanStore.open(db) as store:
        assert store.count() == 7
    assert caplog.records == []


def test_damaged_segment_does_not_block_the_running_loader(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = SpanStore.open(tmp_path / "spans.duckdb")
    ingestor = Ingestor(store.segments, store=store, load_interval=0.05)
    try:
        bad = write_segment(store.segments, [GARBAGE], 5, seq=999_999)
        with ingestor._backlog.get_lock():  # as a writer of this log would count it
            ingestor._backlog.value += 5
        ingestor.submit(_lines(6, 10**18), 6).result(timeout=30)
        assert ingestor.wait_stored(11, timeout=30)
        ingestor.submit(_lines(2, 2 * 10**18), 2).result(timeout=30)
        assert ingestor.wait_stored(13, timeout=30)
        assert (ingestor.stats.loaded_spans, ingestor.stats.quarantined_spans, ingestor.pending_spans) == (8, 5, 0)
    finally:
        ingestor.close()
    assert store.count() == 8
    store.close()
    assert (store.segments / "rejected" / bad.name).exists()
    assert [r.getMessage().split(" cannot")[0] for r in caplog.records if r.name == "agenttrace.store"] == [
        f"agenttrace store: log segment {bad.name} (5 spans)"
    ]


def test_segment_of_an_older_version_with_a_long_line_loads(tmp_path: Path) -> None:
    # Written before limits existed: a 3 MB line, and a name without the longest-line field.
    db = tmp_path / "spans.duckdb"
    SpanStore.open(db).close()
    request = decode_protobuf(otlp_request(2, run_id="r" * 1_500_000)).request
    lines = to_batch(request, Limits(max_attribute_length=10**7, max_span_bytes=10**7)).lines
    assert max(map(len, lines.split(b"\n"))) > 3_000_000
    (tmp_path / "spans.duckdb.ingest" / "00000000000000000001-1-000000001-2.tsv").write_bytes(lines)
    with SpanStore.open(db) as store:
        assert store.query("SELECT length(run_id), count(*) FROM spans GROUP BY ALL") == [(1_500_000, 2)]
