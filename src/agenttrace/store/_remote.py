"""Reading a store that a running collector holds: through the collector's query API.

DuckDB lets one process open a file read-write and then nobody else may open it, so while a collector runs,
readers ask the collector instead. On start it writes ``<db>.collector`` (JSON: its pid and the base URL
of its query API) and removes it on stop; :func:`open_reader` finds it there. A file left behind by a
killed collector names a dead pid and is ignored, so the store is then opened directly (which also loads
whatever the dead collector had acknowledged but not yet loaded).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agenttrace.store._reader import RunSummary, SpanStore, StoreError

#: Version prefix of the query API paths (``GET {api}/runs``).
API_PATH = "/api/v1"
_TIMEOUT_S = 30.0


class StoreReader(Protocol):
    """What every read command needs from a store, wherever it is."""

    def list_runs(self) -> list[RunSummary]:
        """One summary per load run, oldest first."""

    def close(self) -> None:
        """Release the store."""


def info_path(db: Path) -> Path:
    """Where a running collector announces itself for the store file ``db``."""
    return db.with_name(db.name + ".collector")


@dataclass(frozen=True)
class CollectorInfo:
    """What a running collector tells readers of its store."""

    pid: int
    api_url: str

    def write(self, db: Path) -> None:
        """Announce (atomically: readers never see half a file)."""
        path = info_path(db)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"pid": self.pid, "api_url": self.api_url}))
        os.replace(tmp, path)

    @staticmethod
    def remove(db: Path) -> None:
        """Stop announcing."""
        info_path(db).unlink(missing_ok=True)

    @classmethod
    def find(cls, db: Path) -> CollectorInfo | None:
        """The announcement of a live collector for ``db``, or ``None`` (none, unreadable, or its pid is gone)."""
        try:
            data = json.loads(info_path(db).read_text())
            info = cls(int(data["pid"]), str(data["api_url"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return info if _alive(info.pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def runs_to_json(runs: list[RunSummary]) -> list[dict[str, Any]]:
    """The query API's form of :meth:`SpanStore.list_runs` (times as integer nanoseconds)."""
    return [
        {
            "run_id": run.run_id,
            "first_span_ns": _ns(run.first_span),
            "last_span_ns": _ns(run.last_span),
            "requests": run.requests,
            "spans": run.spans,
        }
        for run in runs
    ]


def _ns(when: dt.datetime) -> int:
    return round(when.timestamp() * 1e9)


class RemoteStore:
    """The store held by a running collector, read through its query API.

    Args:
        url: The collector's base URL (``http://127.0.0.1:4318``).
        token: Its bearer token, when it requires one.
    """

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self._token = token

    def _get(self, path: str) -> Any:
        request = urllib.request.Request(f"{self.url}{API_PATH}{path}", headers={"accept": "application/json"})
        if self._token:
            request.add_header("authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:  # noqa: S310 - http(s) only
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = _message(exc.read())
            if exc.code in (400, 404):  # the caller's mistake: the message says it all
                raise StoreError(detail) from None
            raise StoreError(f"the collector at {self.url} answered {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StoreError(f"cannot read from the collector at {self.url}: {reason}") from None

    def list_runs(self) -> list[RunSummary]:
        """One summary per load run, oldest first."""
        return [
            RunSummary(
                row["run_id"],
                _timestamp(row["first_span_ns"]),
                _timestamp(row["last_span_ns"]),
                int(row["requests"]),
                int(row["spans"]),
            )
            for row in self._get("/runs")
        ]

    def report(
        self, run_id: str | None = None, slos: list[str] | None = None, jaeger_ui: str | None = None
    ) -> dict[str, Any]:
        """The report of run ``run_id`` (the latest when ``None``), built by the collector, in its JSON form.

        Raises:
            StoreError: The collector answered an error (unknown run, bad SLO) or cannot be reached.
        """
        query: list[tuple[str, str]] = [("run", run_id)] if run_id is not None else []
        query += [("slo", slo) for slo in slos or []]
        if jaeger_ui:
            query.append(("jaeger_ui", jaeger_ui))
        result: dict[str, Any] = self._get("/report?" + urllib.parse.urlencode(query))
        return result

    def close(self) -> None:
        """Nothing to release."""


def _message(body: bytes) -> str:
    try:
        return str(json.loads(body)["message"])
    except (ValueError, KeyError, TypeError):
        return body[:200].decode("utf-8", "replace") or "no details"


def _timestamp(ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.timezone.utc)


def open_reader(db: Path | None = None, *, collector: str | None = None, token: str | None = None) -> StoreReader:
    """A reader for a stopped store file, or for the running collector holding it.

    Args:
        db: The store file. When a live collector announced itself for it, that collector is asked.
        collector: Ask the collector at this base URL instead of looking at ``db``.
        token: The collector's bearer token, when it requires one.

    Raises:
        StoreError: No store at ``db``, the file cannot be opened, or the collector cannot be reached.
    """
    if collector is not None:
        return RemoteStore(collector, token)
    if db is None:
        raise StoreError("give a store file or a collector URL")
    running = CollectorInfo.find(db)
    if running is not None:
        return RemoteStore(running.api_url, token)
    if not db.exists():
        raise StoreError(f"no span store at {db}")
    return SpanStore.open(db)
