"""``agenttrace report --format html``: the file, its default name, exit codes, a missing plotly."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agenttrace._cli import main

MISSING = (
    "agenttrace: error: this command needs optional packages (plotly is missing): pip install 'agenttrace[report]'\n"
)


def test_out_file(run_a_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.html"
    assert main(["report", "--db", str(run_a_db), "--format", "html", "--out", str(out)]) == 0
    assert capsys.readouterr() == ("", "")
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>\n") and page.endswith("</html>\n")
    assert "<title>agenttrace report: run-a</title>" in page


def test_default_file_in_working_directory(
    run_a_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--db", str(run_a_db), "--format", "html"]) == 0
    assert capsys.readouterr() == ("", "agenttrace: wrote report.html\n")
    assert (tmp_path / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_unwritable_out(run_a_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "missing" / "r.html"
    assert main(["report", "--db", str(run_a_db), "--format", "html", "--out", str(out)]) == 1
    assert capsys.readouterr().err == f"agenttrace: error: cannot write {out}: No such file or directory\n"


def test_missing_plotly(
    run_a_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # plotly not installed: None in sys.modules makes every import of it fail as an absent package does.
    monkeypatch.setitem(sys.modules, "plotly", None)
    out = tmp_path / "r.html"
    assert main(["report", "--db", str(run_a_db), "--format", "html", "--out", str(out)]) == 1
    assert capsys.readouterr() == ("", MISSING)
    assert not out.exists()
    # The other formats do not need it.
    assert main(["report", "--db", str(run_a_db), "--format", "json", "--out", str(tmp_path / "r.json")]) == 0
