"""What each import loads: the instrumentation needs the OpenTelemetry API only."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _loaded(statement: str, prefixes: tuple[str, ...]) -> list[str]:
    """The packages (first two name parts) under ``prefixes`` that a fresh interpreter has after ``statement``."""
    probe = (
        f"import sys\n{statement}\n"
        f"print('\\n'.join(sorted({{'.'.join(m.split('.')[:2]) for m in sys.modules if m.startswith({prefixes!r})}})))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_import_agenttrace_does_not_load_the_sdk() -> None:
    assert _loaded("import agenttrace", ("opentelemetry.sdk", "agenttrace.export", "duckdb", "uvicorn")) == []


def test_configure_loads_the_sdk_on_first_use() -> None:
    loaded = _loaded("import agenttrace\nagenttrace.configure", ("opentelemetry.sdk", "agenttrace.export"))
    assert loaded == ["agenttrace.export", "opentelemetry.sdk"]


@pytest.mark.parametrize("name", ["configure", "Configured", "ConfigurationError"])
def test_lazy_names_are_the_export_ones(name: str) -> None:
    import agenttrace
    import agenttrace.export

    assert getattr(agenttrace, name) is getattr(agenttrace.export, name)


def test_unknown_attribute_is_an_attribute_error() -> None:
    import agenttrace

    with pytest.raises(AttributeError, match="module 'agenttrace' has no attribute 'nope'"):
        agenttrace.nope  # noqa: B018
