from __future__ import annotations

from pathlib import Path

import pytest

from agenttrace import _cli
from agenttrace.k6 import MODULE_PATH


def test_path_prints_the_shipped_module(capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli.main(["k6", "path"]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == (f"{MODULE_PATH}\n", "")
    assert Path(out.strip()).read_text().startswith("/**\n * agenttrace for k6")


def test_copy_into_a_directory_then_up_to_date(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "agenttrace.js"
    assert _cli.main(["k6", "copy", str(tmp_path)]) == 0
    assert capsys.readouterr() == (f"copied agenttrace.js to {target}\n", "")
    assert target.read_bytes() == MODULE_PATH.read_bytes()
    assert _cli.main(["k6", "copy", str(tmp_path)]) == 0
    assert capsys.readouterr() == (f"{target} is up to date\n", "")


def test_copy_defaults_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _cli.main(["k6", "copy"]) == 0
    assert capsys.readouterr() == ("copied agenttrace.js to agenttrace.js\n", "")
    assert (tmp_path / "agenttrace.js").read_bytes() == MODULE_PATH.read_bytes()


def test_copy_refuses_to_overwrite_a_different_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "agenttrace.js"
    target.write_text("// my own edits\n")
    assert _cli.main(["k6", "copy", str(tmp_path)]) == 1
    assert capsys.readouterr() == (
        "",
        f"agenttrace: error: {target} exists and differs from agenttrace's; use --force to overwrite it\n",
    )
    assert target.read_text() == "// my own edits\n"
    assert _cli.main(["k6", "copy", "--force", str(tmp_path)]) == 0
    assert capsys.readouterr() == (f"copied agenttrace.js to {target}\n", "")
    assert target.read_bytes() == MODULE_PATH.read_bytes()


def test_copy_into_a_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli.main(["k6", "copy", str(tmp_path / "nope")]) == 1
    assert capsys.readouterr() == ("", f"agenttrace: error: not a directory: {tmp_path / 'nope'}\n")


def test_copy_onto_a_directory_named_like_the_module(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "agenttrace.js").mkdir()
    assert _cli.main(["k6", "copy", "--force", str(tmp_path)]) == 1
    assert capsys.readouterr() == ("", f"agenttrace: error: {tmp_path / 'agenttrace.js'} is a directory\n")


def test_copy_that_cannot_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a dangling symlink: the copy follows it into a directory that does not exist
    (tmp_path / "agenttrace.js").symlink_to(tmp_path / "gone" / "agenttrace.js")
    assert _cli.main(["k6", "copy", str(tmp_path)]) == 1
    assert capsys.readouterr() == (
        "",
        f"agenttrace: error: cannot write {tmp_path / 'agenttrace.js'}: No such file or directory\n",
    )


def test_k6_without_an_action_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli.main(["k6"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: agenttrace k6")
