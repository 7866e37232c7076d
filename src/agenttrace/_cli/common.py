"""What every subcommand shares: the expected-failure exception and the optional-extra import."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

Subparsers = Any  # argparse._SubParsersAction is private
COLLECTOR_EXTRA = "pip install 'agenttrace[collector]'"


class CliError(Exception):
    """An expected failure; its message is printed as one line."""


def need(module: str, extra: str = COLLECTOR_EXTRA) -> ModuleType:
    """Import ``module``, or fail with one line saying which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise CliError(f"this command needs optional packages ({exc.name} is missing): {extra}") from None
