"""The details of an ASGI request that the middleware records, and its duration metric.

The attribute names come from ``agenttrace._names`` (HTTP semantic conventions). Everything runs once per
request, so it is written to scan the ASGI headers once and allocate little.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any, Final

from opentelemetry import metrics, propagate
from opentelemetry.propagators.textmap import TextMapPropagator

from agenttrace._instrument.metrics import instruments_for
from agenttrace._instrument.providers import get_meter_provider
from agenttrace._names import (
    CLIENT_ADDRESS,
    ERROR_TYPE,
    HTTP_REQUEST_METHOD,
    HTTP_REQUEST_METHOD_ORIGINAL,
    HTTP_RESPONSE_STATUS_CODE,
    HTTP_ROUTE,
    NETWORK_PROTOCOL_NAME,
    NETWORK_PROTOCOL_VERSION,
    RUN_ID,
    SERVER_ADDRESS,
    SERVER_PORT,
    URL_PATH,
    URL_SCHEME,
    USER_AGENT_ORIGINAL,
)

#: Methods recorded as sent; anything else is recorded as ``_OTHER`` (and the span is named ``HTTP``).
KNOWN_METHODS: Final = frozenset({"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"})

_propagator: TextMapPropagator | None = None
_fields: frozenset[bytes] = frozenset()


def propagation_fields() -> frozenset[bytes]:
    """The header names the global propagator reads, lower-cased ASGI bytes (cached per propagator)."""
    global _propagator, _fields
    current = propagate.get_global_textmap()
    if current is not _propagator:
        _fields = frozenset(f.lower().encode("latin-1") for f in current.fields)
        _propagator = current
    return _fields


def scan_headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[dict[str, str] | None, str | None, str | None]:
    """One pass over the request headers: the propagation carrier (``None`` if empty), host, user agent.

    Repeated propagation headers are joined with ``,`` (the form ``baggage`` allows for a split list).
    """
    fields = propagation_fields()
    carrier: dict[str, str] | None = None
    host = agent = None
    for name, value in headers:
        if name in fields:
            key = name.decode("latin-1")
            text = value.decode("latin-1")
            if carrier is None:
                carrier = {key: text}
            elif key in carrier:
                carrier[key] += "," + text
            else:
                carrier[key] = text
        elif name == b"host":
            host = value.decode("latin-1")
        elif name == b"user-agent":
            agent = value.decode("latin-1")
    return carrier, host, agent


def request_attributes(scope: MutableMapping[str, Any], host: str | None, agent: str | None) -> dict[str, Any]:
    """The span attributes known when a request (or websocket) arrives.

    ``url.query`` is deliberately not recorded: query strings carry API keys.
    """
    attributes: dict[str, Any] = {URL_PATH: scope.get("path", ""), URL_SCHEME: scope.get("scheme", "http")}
    if scope["type"] == "http":
        method = scope.get("method", "")
        if method in KNOWN_METHODS:
            attributes[HTTP_REQUEST_METHOD] = method
        else:
            attributes[HTTP_REQUEST_METHOD] = "_OTHER"
            attributes[HTTP_REQUEST_METHOD_ORIGINAL] = method
        version = scope.get("http_version")
        if version:
            attributes[NETWORK_PROTOCOL_VERSION] = version
    else:
        attributes[NETWORK_PROTOCOL_NAME] = "websocket"
    address, port = _split_host(host) if host else (None, None)
    if address is None:
        server = scope.get("server")
        if server:
            address, port = server[0], server[1]
    if address:
        attributes[SERVER_ADDRESS] = address
        if port is not None:
            attributes[SERVER_PORT] = port
    client = scope.get("client")
    if client:
        attributes[CLIENT_ADDRESS] = client[0]
    if agent:
        attributes[USER_AGENT_ORIGINAL] = agent
    return attributes


def _split_host(host: str) -> tuple[str | None, int | None]:
    """``example.com:8080`` -> (``example.com``, 8080); ``[::1]:80`` -> (``::1``, 80); junk -> (None, None)."""
    if host.startswith("["):
        address, _, rest = host[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        address, _, port_text = host.partition(":")
    if not address or (port_text and not port_text.isdigit()):
        return None, None
    return address, int(port_text) if port_text else None


def route_template(scope: MutableMapping[str, Any], entry_root_path: str) -> str | None:
    """The matched route template, from the ``route`` Starlette and FastAPI put in the ASGI scope.

    Mounted apps see a path relative to their mount, so the mount prefix (the growth of ``root_path``
    since the middleware saw the request) is put in front. A mount that is itself the match (static files,
    a non-router app) gives ``{prefix}/{path}``.
    """
    route = scope.get("route")
    if route is None:
        route = _matched_route(scope)
        if route is None:
            return None
    path_format = getattr(route, "path_format", None)
    if not isinstance(path_format, str):
        return None
    root_path = scope.get("root_path", "")
    prefix = root_path[len(entry_root_path) :] if root_path.startswith(entry_root_path) else ""
    if hasattr(route, "routes"):  # a Mount: its own matched path is already in root_path
        return prefix + "/{path}"
    return prefix + path_format if prefix else path_format


def _matched_route(scope: MutableMapping[str, Any]) -> Any:
    """The route Starlette < 1.0 matched, found from the ``endpoint`` it left in the ASGI scope.

    Only FastAPI's routes put themselves in the scope there; a plain Starlette ``Route`` leaves its endpoint
    and the outermost ``router``. Several routes may share an endpoint: the one whose pattern matches the
    path below the innermost mount wins.
    """
    endpoint = scope.get("endpoint")
    router = scope.get("router")
    if endpoint is None or router is None:
        return None
    path = scope.get("path", "")
    root_path = scope.get("root_path", "")
    tail = path[len(root_path) :] if path.startswith(root_path) else path  # Starlette's get_route_path
    found = None
    pending = [getattr(router, "routes", ())]
    for _ in range(64):  # bounded: a mount tree is small and shallow
        if not pending:
            break
        for candidate in pending.pop():
            if getattr(candidate, "endpoint", None) is endpoint:
                regex = getattr(candidate, "path_regex", None)
                if regex is not None and regex.match(tail):
                    return candidate
                found = found or candidate
            elif hasattr(candidate, "routes"):
                pending.append(candidate.routes)
    return found


def record_duration(
    provider: metrics.MeterProvider | None,
    duration: float,
    asgi: MutableMapping[str, Any],
    route: str | None,
    status: int | None,
    etype: str | None,
    run_id: str | None,
) -> None:
    """Record ``http.server.request.duration`` with the semconv attributes plus the run id."""
    histogram = instruments_for(get_meter_provider(provider)).http_server_duration
    key = (asgi.get("method", ""), asgi.get("scheme", "http"), route, status, etype, run_id)
    attributes = _duration_attributes.get(key)
    if attributes is None:
        attributes = _metric_attributes(*key)
        if len(_duration_attributes) >= _MAX_CACHED:
            _duration_attributes.clear()  # bounded: junk methods or run ids must not grow it forever
        _duration_attributes[key] = attributes
    histogram.record(duration, attributes)


_MAX_CACHED = 1024
#: The duration metric's attribute dicts by what they are made of: few distinct ones, built once each.
_duration_attributes: dict[tuple[Any, ...], dict[str, Any]] = {}


def _metric_attributes(
    method: str, scheme: str, route: str | None, status: int | None, etype: str | None, run_id: str | None
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        HTTP_REQUEST_METHOD: method if method in KNOWN_METHODS else "_OTHER",
        URL_SCHEME: scheme,
    }
    if route is not None:
        attributes[HTTP_ROUTE] = route
    if status is not None:
        attributes[HTTP_RESPONSE_STATUS_CODE] = status
    if etype is not None:
        attributes[ERROR_TYPE] = etype
    if run_id is not None:
        attributes[RUN_ID] = run_id
    return attributes
