"""Server-Timing read from the response headers of both Locust clients, the fast way and the plain way alike."""

from __future__ import annotations

import pytest
from geventhttpclient.header import Headers
from geventhttpclient.response import HTTPResponse
from requests.structures import CaseInsensitiveDict

from agenttrace._loadrun import responses
from agenttrace._loadrun.responses import server_timing

VALUE = 'llm_call;dur=812.4;desc="2", total;dur=903.2'


def parsed(*lines: bytes) -> Headers:
    """The headers geventhttpclient's own parser builds from a response head."""
    response = HTTPResponse()
    response.feed(b"HTTP/1.1 200 OK\r\n" + b"".join(line + b"\r\n" for line in lines) + b"Content-Length: 0\r\n\r\n")
    return response._headers_index


def test_the_installed_geventhttpclient_is_read_from_its_storage() -> None:
    # If an upgrade changes how Headers stores fields, the probe falls back to Headers.get: this test says so.
    assert responses._RAW_HEADERS is Headers


@pytest.mark.parametrize(
    ("lines", "want"),
    [
        ([b"Server-Timing: " + VALUE.encode()], VALUE),
        ([b"server-timing: a;dur=1", b"SERVER-TIMING: b;dur=2"], "a;dur=1, b;dur=2"),  # two lines: joined
        ([b"Content-Type: text/plain"], None),
    ],
)
def test_server_timing_from_geventhttpclient_equals_its_get(lines: list[bytes], want: str | None) -> None:
    headers = parsed(*lines)
    assert server_timing(headers) == want
    plain = headers.get("server-timing")  # the public way, as any other layout is read
    assert (plain if plain is None or isinstance(plain, str) else ", ".join(plain)) == want


def test_server_timing_from_requests_and_from_nothing() -> None:
    assert server_timing(CaseInsensitiveDict({"Server-Timing": VALUE})) == VALUE
    assert server_timing(CaseInsensitiveDict({"Content-Type": "text/plain"})) is None
    assert server_timing(None) is None
