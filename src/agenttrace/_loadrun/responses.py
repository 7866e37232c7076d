"""Reading agenttrace's ``Server-Timing`` from an HTTP client's response headers, on every response.

Any headers object with ``get`` works (``requests``' case-insensitive dict for HttpUser). For
geventhttpclient's ``Headers`` (FastHttpUser), whose ``get`` costs two Python calls, the value is read
straight from its storage when a probe at import finds the storage laid out as expected.
"""

from __future__ import annotations

from typing import Any


def _raw_headers_type() -> type[Any] | None:
    """The ``Headers`` class of geventhttpclient if its storage is laid out as :func:`server_timing` reads it.

    It is a ``dict`` of the lowered field name to the ``(field, value)`` pair, or a list of the pairs of a field
    sent more than once (probed once, here). Reading that with ``dict.get`` skips two Python calls of
    ``Headers.get`` on every response (FastHttpUser); any other layout, or another client, goes through ``get``.
    """
    try:
        from geventhttpclient.header import Headers
    except ImportError:  # pragma: no cover - geventhttpclient comes with Locust (the locust extra)
        return None
    probe = Headers()
    probe.add("Server-Timing", "a")
    one = dict.get(probe, "server-timing")
    probe.add("server-timing", "b")
    two = dict.get(probe, "server-timing")
    ours = one == ("Server-Timing", "a") and two == [("Server-Timing", "a"), ("server-timing", "b")]
    return Headers if ours and probe.get("server-timing") == ["a", "b"] else None


_RAW_HEADERS = _raw_headers_type()
_dict_get = dict.get


def server_timing(headers: Any) -> str | None:
    """A response's ``Server-Timing`` value (several header lines joined by ``", "``), or ``None``."""
    if type(headers) is _RAW_HEADERS:
        entry = _dict_get(headers, "server-timing")
        if type(entry) is tuple:
            return entry[1]  # type: ignore[no-any-return]
        return ", ".join([value for _, value in entry]) if entry else None
    # "is not None", not truthiness: geventhttpclient counts its headers in Python for a bool test.
    value = headers.get("server-timing") if headers is not None else None
    return value if value is None or isinstance(value, str) else ", ".join(value)
