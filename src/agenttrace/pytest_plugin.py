"""The ``agenttrace_capture`` pytest fixture (registered through the ``pytest11`` entry point)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agenttrace.testing import Capture, capture


@pytest.fixture
def agenttrace_capture() -> Iterator[Capture]:
    """Capture agenttrace's spans and metrics in memory for one test."""
    with capture() as cap:
        yield cap
