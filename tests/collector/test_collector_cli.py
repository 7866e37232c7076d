from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agenttrace import _cli
from agenttrace.store import SpanStore


def test_runs_missing_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli.main(["runs", "--db", str(tmp_path / "nope.duckdb")]) == 1
    assert capsys.readouterr() == ("", f"agenttrace: error: no span store at {tmp_path / 'nope.duckdb'}\n")


def test_runs_empty_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    SpanStore.open(tmp_path / "empty.duckdb").close()
    assert _cli.main(["runs", "--db", str(tmp_path / "empty.duckdb")]) == 0
    assert capsys.readouterr() == (f"no spans in {tmp_path / 'empty.duckdb'}\n", "")


def test_runs_not_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "text.duckdb").write_text("hello")
    assert _cli.main(["runs", "--db", str(tmp_path / "text.duckdb")]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("agenttrace: error: ")
    assert err.count("\n") == 1


def test_both_receivers_off(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["collector", "--db", str(tmp_path / "x.duckdb"), "--http", "off", "--grpc", "off"]
    assert _cli.main(argv) == 1
    assert capsys.readouterr() == ("", "agenttrace: error: both receivers are off: give --http or --grpc an address\n")


def test_bad_address(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["collector", "--db", str(tmp_path / "x.duckdb"), "--http", "localhost", "--grpc", "off"]
    assert _cli.main(argv) == 1
    assert capsys.readouterr() == ("", "agenttrace: error: expected HOST:PORT, got 'localhost'\n")


def test_missing_collector_extra(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in [m for m in sys.modules if m.startswith(("agenttrace.collector", "agenttrace.store"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "duckdb", None)
    assert _cli.main(["runs"]) == 1
    assert capsys.readouterr() == (
        "",
        "agenttrace: error: this command needs optional packages (duckdb is missing): "
        "pip install 'agenttrace[collector]'\n",
    )


def test_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli.main([]) == 2
    assert capsys.readouterr().err.startswith("usage: agenttrace")
