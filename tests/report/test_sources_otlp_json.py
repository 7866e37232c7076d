"""OTLP/JSON files (the Collector's file exporter) give the same report as the embedded store for the same spans."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from agenttrace._cli import main
from agenttrace.report.build import build_report
from agenttrace.report.render_json import to_json
from agenttrace.report.slo import Slo
from agenttrace.report.sources import SourceError, load_otlp_json, source_report
from tests.report.conftest import RUN_A
from tests.report.source_spans import otlp_json

SLOS = ["latency<2s", "ttfb<500ms"]


def comparable(report: Any) -> dict[str, Any]:
    """The report's JSON form without what differs between two readings: when and from where."""
    return {k: v for k, v in to_json(report).items() if k not in ("generated_at", "source")}


def store_json(db: Path, run_id: str | None = None) -> dict[str, Any]:
    connection = duckdb.connect(str(db), read_only=True)
    try:
        slos = [Slo.parse(s) for s in SLOS]
        return comparable(build_report(connection, run_id, latest=run_id is None, slos=slos, source=str(db)))
    finally:
        connection.close()


def exporter_file(path: Path, batches: list[list[Any]]) -> Path:
    """A file as the file exporter writes it: one export request per line."""
    path.write_text("".join(json.dumps(otlp_json(batch)) + "\n" for batch in batches), encoding="utf-8")
    return path


def test_same_report_as_the_store(run_a_db: Path, tmp_path: Path) -> None:
    # Three export requests, the last one repeating a span (an exporter retry): loaded once.
    file = exporter_file(tmp_path / "traces.jsonl", [RUN_A[:7], RUN_A[7:], RUN_A[3:4]])
    loaded = load_otlp_json([file])
    assert (loaded.spans, loaded.rejected, loaded.source) == (len(RUN_A), 0, str(file))
    report = source_report(loaded, None, slos=[Slo.parse(s) for s in SLOS])
    assert report.source == str(file)
    assert comparable(report) == store_json(run_a_db)
    assert comparable(source_report(loaded, "run-b")) == {
        **store_json(run_a_db, "run-b"),
        "goodput": [],
    }


def test_several_files_gzip_and_pretty_printed(run_a_db: Path, tmp_path: Path) -> None:
    first = tmp_path / "a.json"
    first.write_text(json.dumps(otlp_json(RUN_A[:5]), indent=2), encoding="utf-8")  # one request, many lines
    second = tmp_path / "b.jsonl.gz"
    second.write_bytes(gzip.compress(json.dumps(otlp_json(RUN_A[5:])).encode() + b"\n"))
    empty = tmp_path / "c.jsonl"
    empty.write_text("", encoding="utf-8")
    loaded = load_otlp_json([first, second, empty])
    assert loaded.spans == len(RUN_A)
    assert comparable(source_report(loaded, None, slos=[Slo.parse(s) for s in SLOS])) == store_json(run_a_db)


def test_bad_input_names_file_and_line(tmp_path: Path) -> None:
    file = exporter_file(tmp_path / "traces.jsonl", [RUN_A[:2]])
    with file.open("a", encoding="utf-8") as out:
        out.write('{"resourceSpans": 3}\n')
    with pytest.raises(SourceError) as error:
        load_otlp_json([file])
    assert str(error.value) == f"{file}:2: resourceSpans must be an array"
    with pytest.raises(SourceError) as error:
        load_otlp_json([tmp_path / "missing.jsonl"])
    assert str(error.value) == f"cannot read {tmp_path / 'missing.jsonl'}: No such file or directory"


def test_bad_spans_are_left_out_and_counted(tmp_path: Path) -> None:
    data = otlp_json(RUN_A[:3])
    data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] = "00"
    file = tmp_path / "traces.jsonl"
    file.write_text(json.dumps(data) + "\n", encoding="utf-8")
    loaded = load_otlp_json([file])
    assert (loaded.spans, loaded.rejected, loaded.reasons) == (2, 1, ["invalid span_id"])


def test_cli(run_a_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = exporter_file(tmp_path / "traces.jsonl", [RUN_A])
    out = tmp_path / "report.json"
    args = ["report", "--otlp-json", str(file), "--format", "json", "--out", str(out)]
    assert main([*args, *(a for s in SLOS for a in ("--slo", s))]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["source"] == str(file)
    assert {k: v for k, v in data.items() if k not in ("generated_at", "source")} == store_json(run_a_db)
    capsys.readouterr()
    assert main(["report", "--otlp-json", str(file), "--run", "nope"]) == 1
    assert capsys.readouterr().err == f"agenttrace: error: no requests of the run 'nope' in the span store ({file})\n"


def test_cli_sources_exclude_each_other(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--db", "x.duckdb", "--otlp-json", "f.jsonl"])
    assert exit_.value.code == 2
    assert "argument --otlp-json: not allowed with argument --db" in capsys.readouterr().err
    assert main(["report", "--collector", "http://127.0.0.1:1", "--otlp-json", "f.jsonl"]) == 1
    assert capsys.readouterr().err == (
        "agenttrace: error: --collector reads the embedded store: not with --jaeger, --otlp-json or --clickhouse\n"
    )
