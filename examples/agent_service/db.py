"""The agent's SQLite database behind a small connection pool: sessions, messages (memory) and orders.

The pool is the real, observable bottleneck of the example. It holds ``size`` connections and one worker
thread per connection; a :class:`Lease` checks one out (waiting in line when all are out, which is the time
``context_load`` shows under load), runs calls on it in the pool's threads, and gives it back. Every call
first sleeps ``latency_s`` in its thread, the network round trip a database server would cost, so the
connection is busy for at least that long.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

R = TypeVar("R")

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_session ON messages (session_id, id);
CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, item TEXT NOT NULL, status TEXT NOT NULL, eta TEXT NOT NULL);
"""
STATUSES = ("processing", "shipped", "delivered", "returned")
ITEMS = ("headphones", "keyboard", "monitor", "desk lamp", "backpack")
ORDER_IDS = range(10000, 20000)  # "#12345" is an order


class ConnectionPool:
    """``size`` SQLite connections to ``path`` (a fresh temporary database when empty), one thread each."""

    def __init__(self, path: str, size: int, latency_s: float) -> None:
        self._tmp = None if path else tempfile.mkdtemp(prefix="agent-service-")
        self.path = path or str(Path(self._tmp or ".") / "agent.db")
        self.size = size
        self.latency_s = latency_s
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="agent-db")
        self._connections = [self._connect() for _ in range(size)]
        self._connections[0].executescript(SCHEMA)
        seed(self._connections[0])
        self._idle: asyncio.Queue[sqlite3.Connection] = asyncio.Queue()
        for connection in self._connections:
            self._idle.put_nowait(connection)

    def _connect(self) -> sqlite3.Connection:
        # Autocommit (isolation_level=None): writes take their own BEGIN IMMEDIATE; the timeout waits out writers.
        connection = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    def lease(self) -> Lease:
        """A lease that has not checked out a connection yet (see :meth:`Lease.acquire`)."""
        return Lease(self)

    def close(self) -> None:
        """Close every connection and remove the temporary database, if this pool made one."""
        self._executor.shutdown(wait=True)
        for connection in self._connections:
            connection.close()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def _call(self, connection: sqlite3.Connection, fn: Callable[..., R], args: tuple[Any, ...]) -> R:
        if self.latency_s:
            time.sleep(self.latency_s)  # the round trip: this connection and its thread are busy meanwhile
        return fn(connection, *args)


class Lease:
    """One connection checked out of the pool for one message; its calls run one at a time."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._connection: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._running: asyncio.Future[Any] | None = None

    async def acquire(self) -> None:
        """Wait for a free connection (in line behind earlier waiters)."""
        if self._connection is None:
            self._connection = await self._pool._idle.get()

    async def run(self, fn: Callable[..., R], *args: Any) -> R:
        """``fn(connection, *args)`` in the pool's thread for this connection; acquires first if needed."""
        await self.acquire()
        connection = self._connection
        assert connection is not None
        async with self._lock:
            loop = asyncio.get_running_loop()
            self._running = loop.run_in_executor(self._pool._executor, self._pool._call, connection, fn, args)
            return await self._running  # type: ignore[no-any-return]

    def release(self) -> None:
        """Give the connection back, once a call still running on it (a cancelled request's) has finished."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        running = self._running
        if running is not None and not running.done():
            running.add_done_callback(lambda _: self._pool._idle.put_nowait(connection))
        else:
            self._pool._idle.put_nowait(connection)


def seed(connection: sqlite3.Connection) -> None:
    """Fill the orders table once (deterministic rows: order ``n`` has status ``STATUSES[n % 4]``)."""
    if connection.execute("SELECT count(*) FROM orders").fetchone()[0]:
        return
    rows = [
        (str(n), ITEMS[n % len(ITEMS)], STATUSES[n % len(STATUSES)], f"2025-{n % 12 + 1:02d}-{n % 28 + 1:02d}")
        for n in ORDER_IDS
    ]
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", rows)
    connection.execute("COMMIT")


def create_session(connection: sqlite3.Connection) -> str:
    """A new, empty session; returns its id."""
    session_id = uuid.uuid4().hex
    connection.execute("INSERT INTO sessions VALUES (?, ?)", (session_id, time.time()))
    return session_id


def load_history(connection: sqlite3.Connection, session_id: str, limit: int) -> list[dict[str, str]] | None:
    """The session's last ``limit`` messages, oldest first; ``None`` if there is no such session."""
    if connection.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone() is None:
        return None
    rows = connection.execute(
        "SELECT role, content FROM messages WHERE session_id = ? ORDER BY id DESC LIMIT ?", (session_id, limit)
    ).fetchall()
    return [{"role": role, "content": content} for role, content in reversed(rows)]


def save_turn(connection: sqlite3.Connection, session_id: str, user: str, assistant: str) -> None:
    """Append one exchange to the session's memory, atomically."""
    now = time.time()
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.executemany(
            "INSERT INTO messages (session_id, role, content, created_at) VALUES (?, ?, ?, ?)",
            [(session_id, "user", user, now), (session_id, "assistant", assistant, now)],
        )
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def find_order(connection: sqlite3.Connection, order_id: str) -> dict[str, str] | None:
    """One row of the orders table, or ``None``."""
    row = connection.execute("SELECT id, item, status, eta FROM orders WHERE id = ?", (order_id,)).fetchone()
    return None if row is None else dict(zip(("order_id", "item", "status", "eta"), row, strict=True))
