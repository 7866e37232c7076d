"""Running ``agenttrace demo`` as a subprocess, the way ``make demo`` does, and checking what it leaves behind."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PID = re.compile(r", pid (\d+)")


class Demo:
    """A running ``python -m agenttrace demo``: its output lines as they come, and the child pids it printed."""

    def __init__(self, args: list[str], env: Mapping[str, str] | None = None) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTEST_", "AGENT_", "MODEL_"))}
        base["COLUMNS"] = "160"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agenttrace", "demo", *args],
            cwd=ROOT,
            env=base | dict(env or {}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # like a terminal's foreground job: signals reach the demo alone
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._err: list[str] = []
        assert self.process.stdout is not None and self.process.stderr is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()
        self._err_reader = threading.Thread(target=lambda: self._err.extend(self.process.stderr), daemon=True)
        self._err_reader.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, timeout_s: float = 60.0) -> str:
        """The first output line containing ``text`` (a bounded wait on the demo's own output)."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} within {timeout_s} s; output so far: {self.lines}")

    def finish(self, timeout_s: float = 120.0) -> tuple[int, str, str]:
        """Exit code, whole stdout and stderr."""
        code = self.process.wait(timeout=timeout_s)
        while (line := self._queue.get(timeout=10)) is not None:
            self.lines.append(line)
        self._err_reader.join(timeout=10)
        return code, "\n".join(self.lines), "".join(self._err)

    @property
    def child_pids(self) -> list[int]:
        """The pids the demo printed for its children (each the id of the child's process group)."""
        return [int(m.group(1)) for line in self.lines for m in PID.finditer(line)]


def group_alive(pgid: int) -> bool:
    """Whether any process is left in the process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def demo_runs() -> Iterator[list[Demo]]:
    """Demos started by a test; any still running at the end is stopped (and its children) so none leaks."""
    runs: list[Demo] = []
    yield runs
    for run in runs:
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait()
        for pid in run.child_pids:
            if group_alive(pid):
                os.killpg(pid, 9)
        for stream in (run.process.stdout, run.process.stderr):
            if stream is not None:
                stream.close()
