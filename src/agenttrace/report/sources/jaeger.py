"""Jaeger v2's query API (``GET /api/v3/traces``): a run's traces by service, time window and run id.

Jaeger answers a search with at most ``query.searchDepth`` traces and has no paging, so a search that comes back
full is split: the time window is halved and each half searched again, until every answer holds fewer traces
than the depth. A trace that starts in both halves comes back twice and is loaded once. Jaeger answers 404 when
nothing matched. The run filter is sent as ``query.attributes`` ({"agenttrace.run_id": ...}); the report
filters by run again, so a Jaeger that ignores the attribute filter costs time but gives the same report.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from agenttrace import _names as names
from agenttrace.report.sources._load import JsonLoader, Loaded, SourceError

#: Traces asked per search (``query.searchDepth``); a search that returns this many is split.
SEARCH_DEPTH = 1000
#: At most this many searches per report (a run of ~``MAX_SEARCHES * SEARCH_DEPTH / 2`` traces at least).
MAX_SEARCHES = 2000
#: A window is never split below this (nanoseconds): more than ``SEARCH_DEPTH`` traces starting within it fail.
MIN_WINDOW_NS = 1_000_000
TIMEOUT_S = 60.0


@dataclass(frozen=True)
class JaegerQuery:
    """What to ask Jaeger for.

    Attributes:
        url: Jaeger's query base URL (``http://jaeger:16686``), the API under ``/api/v3``.
        service: The service whose traces to search (Jaeger requires one).
        start_ns: Window start (traces starting at or after it), nanoseconds since the epoch.
        end_ns: Window end, nanoseconds since the epoch.
        run_id: Only traces with a span of this ``agenttrace.run_id`` (``None``: every trace in the window).
        search_depth: Traces per search.
        max_searches: Give up after this many searches.
    """

    url: str
    service: str
    start_ns: int
    end_ns: int
    run_id: str | None = None
    search_depth: int = SEARCH_DEPTH
    max_searches: int = MAX_SEARCHES


def rfc3339(ns: int) -> str:
    """``ns`` since the epoch as RFC 3339 UTC with nanoseconds (what Jaeger's ``time.RFC3339Nano`` parses)."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}Z"


def search_url(query: JaegerQuery, start_ns: int, end_ns: int) -> str:
    """The ``/api/v3/traces`` URL searching ``[start_ns, end_ns]``."""
    params = {
        "query.serviceName": query.service,
        "query.startTimeMin": rfc3339(start_ns),
        "query.startTimeMax": rfc3339(end_ns),
        "query.searchDepth": str(query.search_depth),
    }
    if query.run_id is not None:
        params["query.attributes"] = json.dumps({names.RUN_ID: query.run_id}, separators=(",", ":"))
    return query.url.rstrip("/") + "/api/v3/traces?" + urllib.parse.urlencode(params)


def _get(url: str, base: str) -> bytes | None:
    """The body of a search, ``None`` for Jaeger's 404 (nothing found)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310 - the user's Jaeger URL
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise SourceError(f"Jaeger at {base} answered {exc.code}: {_error_message(exc.read())}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SourceError(f"cannot reach Jaeger at {base}: {reason}") from None


def _error_message(body: bytes) -> str:
    """Jaeger's error text: ``{"error": {"httpCode", "message"}}``, else the body's first line."""
    try:
        message = json.loads(body)["error"]["message"]
        if isinstance(message, str):
            return message
    except (ValueError, KeyError, TypeError):
        pass
    return body.decode("utf-8", "replace").strip().partition("\n")[0][:200] or "no message"


def _traces(body: bytes, where: str) -> tuple[bytes, int]:
    """The ``TracesData`` inside Jaeger's ``{"result": ...}`` and the number of distinct traces in it."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise SourceError(f"{where}: Jaeger's answer is not JSON: {exc}") from None
    result = data.get("result", data) if isinstance(data, dict) else None
    if not isinstance(result, dict):
        raise SourceError(f"{where}: Jaeger's answer has no result object")
    trace_ids = {
        span.get("traceId")
        for resource in result.get("resourceSpans") or []
        for scope in (resource.get("scopeSpans") or [] if isinstance(resource, dict) else [])
        for span in (scope.get("spans") or [] if isinstance(scope, dict) else [])
        if isinstance(span, dict)
    }
    return json.dumps(result).encode(), len(trace_ids)


def load_jaeger(query: JaegerQuery) -> Loaded:
    """Search Jaeger for the query's traces (splitting full searches) and load their spans in memory.

    Raises:
        SourceError: Jaeger cannot be reached or refused a search, an answer is not OTLP/JSON, a window shorter
            than ``MIN_WINDOW_NS`` still holds ``search_depth`` traces, or more than ``max_searches`` are needed.
    """
    if query.end_ns <= query.start_ns:
        raise SourceError("the time window is empty: its end is not after its start")
    loader = JsonLoader()
    windows = [(query.start_ns, query.end_ns)]
    searches = 0
    while windows:  # bounded: at most max_searches passes
        start_ns, end_ns = windows.pop()
        searches += 1
        if searches > query.max_searches:
            raise SourceError(
                f"more than {query.max_searches} Jaeger searches needed: narrow the window (--since/--until)"
            )
        url = search_url(query, start_ns, end_ns)
        body = _get(url, query.url)
        if body is None:
            continue
        where = f"Jaeger {rfc3339(start_ns)}..{rfc3339(end_ns)}"
        result, traces = _traces(body, where)
        if traces >= query.search_depth:
            if end_ns - start_ns < MIN_WINDOW_NS:
                raise SourceError(
                    f"{where}: {traces} traces start within {end_ns - start_ns} ns: more than a search returns"
                )
            middle = (start_ns + end_ns) // 2
            windows += [(middle, end_ns), (start_ns, middle)]
            continue
        loader.add(result, where)
    return loader.load(f"{query.url} ({query.service})")
