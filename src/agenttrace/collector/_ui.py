"""The live page at ``/ui/``: one HTML file, one script, one stylesheet, and plotly.js, all served from here.

The files hold no data: the page reads everything from the query API (``/api/v1/*``) in the browser, with the
collector's bearer token when it has one (taken from the URL fragment, ``/ui/#token=...``, which browsers
never send to a server, or asked for once). So these files are answered without a token, to GET and HEAD
only, from memory. plotly.js comes from the installed ``plotly`` package (the ``report`` extra); without it
the page shows its tables and says what to install. Nothing is fetched from the internet.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

UI_PATH = "/ui"
_FILES = {
    "/ui/": ("index.html", b"text/html; charset=utf-8"),
    "/ui/app.js": ("app.js", b"text/javascript; charset=utf-8"),
    "/ui/style.css": ("style.css", b"text/css; charset=utf-8"),
}
_PLOTLY = "/ui/plotly.min.js"
# The page's own files may change with an upgrade: always revalidated. plotly.js is large and fixed per install.
_NO_CACHE = b"no-cache"
_PLOTLY_CACHE = b"max-age=86400"
_SECURITY = [
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"),
]


def plotly_js_path() -> Path | None:
    """The ``plotly.min.js`` bundled in the installed ``plotly`` package, or None when it is not installed."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


class LivePage:
    """ASGI app answering ``/ui`` and the files below it."""

    def __init__(self) -> None:
        folder = importlib.resources.files("agenttrace.collector") / "ui"
        self._files = {path: (folder.joinpath(name).read_bytes(), kind) for path, (name, kind) in _FILES.items()}
        self._plotly: bytes | None = None

    @staticmethod
    def handles(path: str) -> bool:
        """Whether ``path`` belongs to the page."""
        return path == UI_PATH or path.startswith(UI_PATH + "/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if scope["method"] not in ("GET", "HEAD"):
            await _send(send, 405, b"method not allowed: use GET\n", b"text/plain", [(b"allow", b"GET, HEAD")])
        elif path == UI_PATH:
            await _send(send, 308, b"", b"text/plain", [(b"location", b"/ui/")])
        elif path in self._files:
            body, kind = self._files[path]
            await _send(send, 200, body, kind, [(b"cache-control", _NO_CACHE)], head=scope["method"] == "HEAD")
        elif path == _PLOTLY and self._plotly_js() is not None:
            body = self._plotly_js() or b""
            headers = [(b"cache-control", _PLOTLY_CACHE)]
            await _send(send, 200, body, b"text/javascript; charset=utf-8", headers, head=scope["method"] == "HEAD")
        else:
            await _send(send, 404, f"not found: {path}\n".encode(), b"text/plain")

    def _plotly_js(self) -> bytes | None:
        # Read on first use (4.8 MB): a collector whose page is never opened never holds it.
        if self._plotly is None:
            path = plotly_js_path()
            self._plotly = path.read_bytes() if path is not None else b""
        return self._plotly or None


async def _send(
    send: Send,
    status: int,
    body: bytes,
    kind: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    head: bool = False,
) -> None:
    start_headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode()), *_SECURITY]
    await send({"type": "http.response.start", "status": status, "headers": start_headers + (headers or [])})
    await send({"type": "http.response.body", "body": b"" if head else body})
