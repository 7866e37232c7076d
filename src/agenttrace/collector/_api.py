"""The collector's query API: read commands ask a running collector, since it holds the store file.

``GET /api/v1/runs`` answers the runs table as JSON (the form of ``store._remote.runs_to_json``);
``GET /api/v1/report?run=ID&slo=latency<2s&jaeger_ui=URL`` a run's report in its JSON form (the latest run
without ``run``; 400 for a bad SLO, 404 for an unknown run; needs the ``report`` modules). The live page reads
``GET /api/v1/live?run=ID`` (the report and the series, at a bounded cost: ``_live_route``),
``GET /api/v1/timeseries?run=ID`` and ``GET /api/v1/traces/{trace_id}`` (``_live_data``). Each read runs in a
worker thread: it first has the collector load every span acknowledged so far (a reader sees all of them), then
queries on its own DuckDB cursor, blocking neither the event loop nor the loader. Errors answer
``{"message": ...}`` with a 4xx/5xx status. The same bearer token as ``/v1/traces`` applies.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from agenttrace.collector import _live_data
from agenttrace.collector._live_route import LiveRoute
from agenttrace.store._reader import SpanStore
from agenttrace.store._remote import API_PATH, runs_to_json

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("agenttrace.collector")
Query = dict[str, list[str]]
Route = Callable[[SpanStore, Query], Any]


class ApiError(Exception):
    """An expected failure of a read: answered with ``status`` and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _report(reader: SpanStore, query: Query) -> Any:
    try:
        from agenttrace.report.api import NoSuchRun, report_json
    except ImportError as exc:
        raise ApiError(501, f"the collector cannot build reports ({exc.name} is missing)") from None
    try:
        return report_json(reader, query)
    except NoSuchRun as exc:
        raise ApiError(404, str(exc)) from None
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None


class QueryApi:
    """ASGI app serving ``/api/v1/*`` from the open store.

    Args:
        store: The collector's open store (read through a fresh cursor per request).
        authorized: Checks an ``Authorization`` header value (the collector's token rule).
        before_read: Called before each read, in the worker thread: the collector loads every span it has
            acknowledged so far, so a reader sees all of them (read-your-writes).
    """

    def __init__(
        self,
        store: SpanStore,
        authorized: Callable[[bytes | None], bool],
        before_read: Callable[[], object] | None = None,
    ) -> None:
        self._store = store
        self._authorized = authorized
        self._before_read = before_read
        self._routes: dict[str, Route] = {
            f"{API_PATH}/runs": lambda reader, _: runs_to_json(reader.list_runs()),
            f"{API_PATH}/report": _report,
            f"{API_PATH}/timeseries": _timeseries,
            f"{API_PATH}/live": LiveRoute(_live),
        }

    @staticmethod
    def handles(path: str) -> bool:
        """Whether ``path`` belongs to this API."""
        return path.startswith(API_PATH + "/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, body = await self._answer(scope)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope) -> tuple[int, bytes]:
        route = self._routes.get(scope["path"]) or _trace_route(scope["path"])
        headers = dict(scope.get("headers") or ())
        if not self._authorized(headers.get(b"authorization")):
            return 401, _error("missing or wrong bearer token")
        if route is None:
            return 404, _error(f"not found: {scope['path']}")
        if scope["method"] != "GET":
            return 405, _error("method not allowed: use GET")
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        try:
            result = await asyncio.to_thread(self._run, route, query)
        except ApiError as exc:
            return exc.status, _error(exc.message)
        except Exception:  # noqa: BLE001 - a failed read must not take the collector down
            log.exception("agenttrace collector: query failed")
            return 500, _error("query failed; see the collector's log")
        return 200, json.dumps(result, separators=(",", ":")).encode()

    def _run(self, route: Route, query: Query) -> Any:
        if self._before_read is not None and getattr(route, "sync", True):  # the live page reads without syncing
            self._before_read()
        reader = self._store.reader()
        try:
            return route(reader, query)
        finally:
            reader.close()


def _error(message: str) -> bytes:
    return json.dumps({"message": message}).encode()


# The live page's reads (collector/_live_data.py): a trace's spans and a run's series over time.
_TRACES = f"{API_PATH}/traces/"


def _trace_route(path: str) -> Route | None:
    """``/api/v1/traces/{trace_id}``: the route reading that trace, else None."""
    if not path.startswith(_TRACES):
        return None
    trace_id = path[len(_TRACES) :]
    return lambda reader, _: _live_read(_live_data.trace_json, reader, trace_id)


def _timeseries(reader: SpanStore, query: Query) -> Any:
    return _live_read(_live_data.timeseries_json, reader, query)


def _live_read(read: Callable[[SpanStore, Any], Any], reader: SpanStore, argument: Any) -> Any:
    try:
        return read(reader, argument)
    except _live_data.BadRequest as exc:
        raise ApiError(400, str(exc)) from None
    except _live_data.NotFound as exc:
        raise ApiError(404, str(exc)) from None


def _live(reader: SpanStore, query: Query) -> dict[str, Any]:
    report = _report(reader, query)
    return {"report": report, "series": _live_read(_live_data.run_series, reader, report["run_id"])}
