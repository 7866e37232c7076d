"""One table of telemetry names (``agenttrace._names``): the code and the docs are held against it."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest

import agenttrace
from agenttrace import _names

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "agenttrace"
TELEMETRY = re.compile(r"^(agenttrace|gen_ai|http|url|server|client|network|user_agent|error|service)\.[a-z_.]+[a-z]$")
#: Strings shaped like names that are not telemetry: the collector's protobuf package, ASGI message types.
NOT_TELEMETRY = frozenset(
    {
        "agenttrace.collector.otlpview",
        "agenttrace.collector.otlpenvelope",
        "agenttrace.duckdb",
        "http.request",
        "http.disconnect",
        "http.response.start",
        "http.response.body",
        "http.response.trailers",
        "http.response.pathsend",
        "http.batch",  # k6's batch request API
    }
)
#: File names look like dotted names too.
FILE_SUFFIXES = (".js", ".py", ".json", ".md", ".duckdb")
NAMES = _names.all_names()


def _is_module(name: str) -> bool:
    """``agenttrace.store``, ``agenttrace.request`` and the like (modules, loggers, public API), not telemetry."""
    head, _, rest = name.partition(".")
    if head == "agenttrace" and "." not in rest and rest in agenttrace.__all__:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _literals() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "_names.py":
            continue
        tree = ast.parse(path.read_text(), str(path))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                if TELEMETRY.match(node.value) and node.value not in NOT_TELEMETRY and not _is_module(node.value):
                    found.append((str(path.relative_to(ROOT)), node.lineno, node.value))
    return found


def test_code_names_telemetry_only_through_the_table() -> None:
    assert _literals() == []


DOCS = [ROOT / "README.md", ROOT / "collector" / "README.md", SRC / "store" / "__init__.py"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_documented_names_are_in_the_table(doc: Path) -> None:
    mentioned = set(re.findall(r"`+([a-z_]+\.[a-z_.]*[a-z])`+", doc.read_text()))
    telemetry = {
        m
        for m in mentioned
        if TELEMETRY.match(m) and m not in NOT_TELEMETRY and not m.endswith(FILE_SUFFIXES) and not _is_module(m)
    }
    assert telemetry - NAMES == set()


def test_store_columns_come_from_the_table() -> None:
    from agenttrace.store._rows import EXTRACTED

    assert set(EXTRACTED) <= NAMES
