"""Issue 8: a store that is damaged, of another version or not a store opens with one clear line, no traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from agenttrace import _cli
from agenttrace.store import SpanStore, StoreError


def _runs(db: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = _cli.main(["runs", "--db", str(db)])
    out, err = capsys.readouterr()
    return code, out, err


def _old_store(db: Path) -> None:
    with duckdb.connect(str(db)) as connection:
        connection.execute("CREATE TABLE agenttrace_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        connection.execute("INSERT INTO agenttrace_meta VALUES ('schema_version', '1')")
        connection.execute("CREATE TABLE spans (trace_id VARCHAR, attributes JSON)")


def test_store_of_schema_version_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "old.duckdb"
    _old_store(db)
    message = f"{db} has span store schema version 1; this agenttrace reads and writes version 2: use a new --db file"
    assert _runs(db, capsys) == (1, "", f"agenttrace: error: {message}\n")
    with pytest.raises(StoreError) as read_only:
        SpanStore.open(db, read_only=True)
    assert str(read_only.value) == message


def test_duckdb_file_that_is_not_a_span_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "other.duckdb"
    with duckdb.connect(str(db)) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER)")
    message = f"{db} is a DuckDB database but not an agenttrace span store"
    assert _runs(db, capsys) == (1, "", f"agenttrace: error: {message}\n")
    with pytest.raises(StoreError, match="^" + message + "$"):
        SpanStore.open(db, read_only=True)
    # Nothing was created in someone else's database.
    with duckdb.connect(str(db)) as connection:
        assert connection.execute("SELECT table_name FROM duckdb_tables()").fetchall() == [("orders",)]


def test_not_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "text.duckdb"
    db.write_text("hello")
    assert _runs(db, capsys) == (
        1,
        "",
        f'agenttrace: error: {db} is damaged or not a DuckDB database: IO Error: The file "{db}" exists, '
        "but it is not a valid DuckDB database file!\n",
    )


@pytest.mark.parametrize("keep", [0.5, 4096, 100])
def test_truncated_store(tmp_path: Path, capsys: pytest.CaptureFixture[str], keep: float) -> None:
    good = tmp_path / "good.duckdb"
    store = SpanStore.open(good)
    store.query("INSERT INTO spans (trace_id, span_id) SELECT 'a', i::VARCHAR FROM range(200000) t(i)")
    store.close()
    db = tmp_path / "cut.duckdb"
    data = good.read_bytes()
    db.write_bytes(data[: int(len(data) * keep) if keep < 1 else int(keep)])
    code, out, err = _runs(db, capsys)
    assert (code, out) == (1, "")
    assert err.startswith(f"agenttrace: error: {db} is damaged or not a DuckDB database: IO Error: ")
    assert err.count("\n") == 1
    with pytest.raises(StoreError, match="is damaged or not a DuckDB database"):
        SpanStore.open(db, read_only=True)
    shutil.rmtree(tmp_path / "cut.duckdb.ingest", ignore_errors=True)
