"""Child processes of the demo: each in a process group of its own, its output in a log file, stopped for sure.

A child started with ``start_new_session`` does not get the terminal's Ctrl-C: the demo decides when and how
each one stops (SIGTERM to its whole group, then SIGKILL after a grace period), so nothing outlives the demo.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

#: Seconds a child has to exit after SIGTERM before its group gets SIGKILL.
STOP_GRACE_S = 15.0


class ChildFailed(RuntimeError):
    """A child could not start or stopped on its own; the message names it and says why, in one line."""


class Child:
    """One child process (and its process group), its stdout lines readable while it runs.

    Args:
        name: What it is, for messages ("the agent service").
        argv: The command.
        env: Its whole environment.
        cwd: Its working directory.
        log: The file its stdout and stderr go to (stdout lines are also queued for :meth:`wait_for_line`).
    """

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], cwd: Path, log: Path) -> None:
        self.name = name
        self.log = log
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stopped: int | None = None
        self._log_file = log.open("ab")
        try:
            self.process = subprocess.Popen(
                argv,
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._log_file,
                start_new_session=True,  # its own process group: no terminal Ctrl-C, one killpg stops it all
            )
        except OSError as exc:
            self._log_file.close()
            raise ChildFailed(f"{name} could not start: {exc.strerror or exc}") from None
        assert self.process.stdout is not None
        self._reader = threading.Thread(target=self._copy, args=(self.process.stdout,), daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        """The child's pid (= its process group id)."""
        return self.process.pid

    def _copy(self, stream: IO[bytes]) -> None:
        """Copy stdout into the log, queueing each line (None at the end)."""
        for raw in stream:
            self._log_file.write(raw)
            self._log_file.flush()
            self._lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self._lines.put(None)

    def wait_for_line(self, prefix: str, timeout_s: float) -> str:
        """The rest of the first stdout line starting with ``prefix``.

        Raises:
            ChildFailed: The child exited first, or nothing came within ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                self.process.wait()
                raise ChildFailed(f"{self.name} exited with status {self.process.returncode} ({self.log})")
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
        raise ChildFailed(f"{self.name} did not start within {timeout_s:g} s ({self.log})")

    def wait(self, timeout_s: float) -> int | None:
        """Wait up to ``timeout_s`` for the child to exit; its exit status, or None while it runs."""
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def exit_code(self) -> int | None:
        """Its exit status, or None while it runs."""
        return self.process.poll()

    def stop(self, grace_s: float = STOP_GRACE_S) -> int:
        """SIGTERM its process group, wait up to ``grace_s``, then SIGKILL the group; its exit status."""
        if self._stopped is not None:
            return self._stopped
        if self.process.poll() is None:
            _signal_group(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass
        # The group may hold grandchildren (Locust workers, uvicorn reloaders): they go too.
        _signal_group(self.pid, signal.SIGKILL)
        code = self.process.wait()
        self._reader.join(timeout=5)
        self._log_file.close()
        self._stopped = code
        return code


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is gone already


class Children:
    """Every child the demo started, stopped in reverse order however the demo ends."""

    def __init__(self) -> None:
        self._children: list[Child] = []

    def start(self, name: str, argv: list[str], env: Mapping[str, str], cwd: Path, log: Path) -> Child:
        """Start a child and remember it."""
        child = Child(name, argv, env, cwd, log)
        self._children.append(child)
        return child

    @property
    def pids(self) -> list[int]:
        """The pids of every child started."""
        return [child.pid for child in self._children]

    def stop_all(self) -> None:
        """Stop every child still running, last started first."""
        for child in reversed(self._children):
            child.stop()
