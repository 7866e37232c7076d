"""Send ``traceparent`` and ``baggage`` (run id, scenario, user) with every request of an HTTP user.

Each HttpUser / FastHttpUser gets its ``client.request`` wrapped on the instance once it is built (its class's
``__init__`` is wrapped when Locust starts), so ``client.get`` / ``post`` / ``rest`` all pass through it.
When Locust's ``--otel`` instruments ``requests``, it sets ``traceparent`` itself: then only baggage is added,
so a request never carries two conflicting trace parents.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from agenttrace import _names as sc
from agenttrace._guard import log_internal_error

TRACEPARENT = "traceparent"
BAGGAGE = "baggage"
#: W3C baggage-octet minus "%" (percent-encoding escapes): what a baggage value may hold unencoded.
_BAGGAGE_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in ' ",;\\%')
_WRAPPED = "_agenttrace_wrapped"


def new_traceparent() -> str:
    """A fresh sampled W3C ``traceparent``: a random 16-byte trace id and 8-byte span id.

    Cut from one ``os.urandom`` draw per :data:`_POOL` requests: on a load generator's hot path, formatting
    random numbers per request cost several times what the pool does (measured in a running Locust).
    """
    try:
        return _ready.pop()
    except IndexError:
        _ready.extend(_fresh_traceparents())
        return _ready.pop()


_POOL = 256
_TEMPLATE = "00-%s-%s-01 " * _POOL
_ready: list[str] = []  # list.pop and extend are atomic: safe from threads as well as greenlets


def _fresh_traceparents() -> list[str]:
    """:data:`_POOL` traceparents built in bulk: two random draws, one formatting, no per-id Python."""
    trace_ids = os.urandom(16 * _POOL).hex(" ", 16).split()
    span_ids = os.urandom(8 * _POOL).hex(" ", 8).split()
    if "0" * 32 in trace_ids or "0" * 16 in span_ids:  # an all-zero id is invalid (odds 2**-64 per draw)
        return _fresh_traceparents()
    return (_TEMPLATE % tuple(itertools.chain.from_iterable(zip(trace_ids, span_ids, strict=True)))).split()


@functools.lru_cache(maxsize=1024)
def _encoded(value: str) -> str:
    return quote(value, safe=_BAGGAGE_SAFE)


def baggage(run_id: str, scenario: str, user: str) -> str:
    """The ``baggage`` value naming the run, the scenario and the virtual user."""
    return f"{sc.RUN_ID}={_encoded(run_id)},{sc.SCENARIO}={_encoded(scenario)},{sc.USER}={_encoded(user)}"


def requests_traced_by_otel() -> bool:
    """Whether OpenTelemetry's ``requests`` instrumentation (Locust's ``--otel``) is active in this process."""
    try:
        from opentelemetry.instrumentation.requests import (  # type: ignore[import-not-found,unused-ignore]
            RequestsInstrumentor,
        )
    except ImportError:
        return False
    return bool(RequestsInstrumentor().is_instrumented_by_opentelemetry)


class Propagation:
    """What every wrapped client reads: the run id, the user numbering, and whether ``--otel`` sets traceparent.

    Args:
        run_id: returns the current run id (Locust copies the master's options to workers after start-up).
        worker_index: returns this process's worker index, or ``None`` outside a distributed run.
    """

    def __init__(self, run_id: Callable[[], str], worker_index: Callable[[], int | None]) -> None:
        self.run_id = run_id
        self._worker_index = worker_index
        self.otel_requests = requests_traced_by_otel()
        self._users = itertools.count(1)

    def next_user(self) -> str:
        """A stable id for a new virtual user: ``u-<n>``, or ``u-<worker>-<n>`` on a worker."""
        index = self._worker_index()
        n = next(self._users)
        return f"u-{n}" if index is None else f"u-{index}-{n}"


def _scenario(client: Any, url: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    name = kwargs.get("name") or (args[0] if args and isinstance(args[0], str) else None)
    name = name or getattr(client, "request_name", None)
    if name:
        return str(name)
    text = url.decode() if isinstance(url, bytes) else str(url)
    return (urlsplit(text).path if "://" in text else text.split("?", 1)[0]) or "/"


def _merged(given: Any, value: str, traceparent: bool) -> dict[str, Any]:
    """The user's own headers plus ours: baggage appended to theirs, traceparent only if they set none."""
    headers = dict(given)
    lowered = {name.lower(): name for name in headers}
    theirs = lowered.get(BAGGAGE)
    if theirs is None:
        headers[BAGGAGE] = value
    else:
        headers[theirs] = f"{headers[theirs]},{value}"
    if traceparent and TRACEPARENT not in lowered:
        headers[TRACEPARENT] = new_traceparent()
    return headers


def wrap_client(user: Any, propagation: Propagation, sets_traceparent: bool) -> None:
    """Make ``user.client`` send agenttrace's headers (idempotent).

    The run id is read once, here: Locust builds users only after a worker has the master's options.
    """
    client = user.client
    if getattr(client, _WRAPPED, False):
        return
    original: Callable[..., Any] = client.request
    run_id = propagation.run_id()
    user_id = propagation.next_user()
    ours: dict[str, str] = {}  # scenario -> baggage: a user has few

    def request(method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
        # The hot path of every request: a dict lookup and a random draw in the common case.
        try:
            scenario = kwargs.get("name")
            if type(scenario) is not str or not scenario:
                scenario = _scenario(client, url, args, kwargs)
            value = ours.get(scenario)
            if value is None:
                if len(ours) >= 256:  # scenarios named after unbounded URLs
                    ours.clear()
                value = ours[scenario] = baggage(run_id, scenario, user_id)
            given = kwargs.get("headers")
            if given:
                kwargs["headers"] = _merged(given, value, sets_traceparent)
            elif sets_traceparent:  # the common case: nothing to merge with
                kwargs["headers"] = {BAGGAGE: value, TRACEPARENT: new_traceparent()}
            else:
                kwargs["headers"] = {BAGGAGE: value}
        except Exception:  # our failure must not stop the user's request
            log_internal_error("locust.headers")
        return original(method, url, *args, **kwargs)

    client.request = request
    setattr(client, _WRAPPED, True)


def instrument_user_class(cls: type[Any], propagation: Callable[[], Propagation | None]) -> None:
    """Wrap ``cls.__init__`` so each new user's HTTP client sends agenttrace's headers (once per class)."""
    if cls.__dict__.get(_WRAPPED):
        return
    original = cls.__init__

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        try:
            current = propagation()
            client = getattr(self, "client", None)
            if current is not None and client is not None and callable(getattr(client, "request", None)):
                from locust.clients import HttpSession

                otel = current.otel_requests and isinstance(client, HttpSession)
                wrap_client(self, current, sets_traceparent=not otel)
        except Exception:
            log_internal_error("locust.wrap_client")

    cls.__init__ = __init__
    setattr(cls, _WRAPPED, True)
