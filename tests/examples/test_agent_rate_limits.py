"""Rate limiting end to end: the model's 429s, the agent's retries (one span per attempt), its own 429s.

The simulated model's limits are token buckets, so each test knows exactly how many calls it admits.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from opentelemetry.sdk.trace import ReadableSpan

from agenttrace.testing import DURATION, Capture
from examples.agent_service.model_server import ModelConfig
from tests.conftest import SpanWaiter
from tests.examples.conftest import agent_service, client, new_session, send
from tests.trees import node

LIMITED = {
    "error": {"message": "The model is rate limited; retry after 1 s.", "type": "rate_limited", "retry_after": 1}
}


REFUSED_ATTEMPT = node(
    "chat gpt-4o-mini",
    "CLIENT",
    "ERROR",
    events=["exception"],
    **{
        "agenttrace.stage": "llm_call",
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "agenttrace.outcome": "error",
        "error.type": "RateLimitError",
    },
)


def attempts_by_request(spans: list[ReadableSpan]) -> dict[int, list[ReadableSpan]]:
    """The ``llm_call`` spans of each request (by the request span's id), in start order."""
    found: dict[int, list[ReadableSpan]] = {}
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        if span.attributes and span.attributes.get("agenttrace.stage") == "llm_call":
            assert span.parent is not None
            found.setdefault(span.parent.span_id, []).append(span)
    return found


async def test_a_429_is_retried_after_retry_after_and_the_last_one_reaches_the_client_as_429(
    agenttrace_capture: Capture, ended_spans: SpanWaiter
) -> None:
    # A bucket of one request, refilled after a second: of three messages at once, one is answered at once,
    # one on its retry a second later, and the third is refused again on its retry (llm_max_retries=1).
    model = ModelConfig(ttft_s=0.0, per_token_s=0.0, answer_words=8, rpm=60, limit_window_s=1.0)
    with agent_service(model, llm_max_retries=1, llm_max_retry_wait_s=5.0) as base_url:
        async with client() as http:
            sessions = [await new_session(http, base_url) for _ in range(3)]
            responses = await asyncio.gather(*(send(http, base_url, s, "Hello") for s in sessions))
        spans = ended_spans.wait_for_kind("SERVER", 6)

    assert sorted(r.status_code for r in responses) == [200, 200, 429]
    [refused] = [r for r in responses if r.status_code == 429]
    assert refused.json() == LIMITED
    assert "retry" in refused.text
    assert refused.headers["retry-after"] == "1"
    attempts = attempts_by_request(spans)
    outcomes = sorted(tuple(s.attributes.get("error.type", "ok") for s in a) for a in attempts.values())  # type: ignore[union-attr]
    assert outcomes == [("RateLimitError", "RateLimitError"), ("RateLimitError", "ok"), ("ok",)]
    [retried] = [a for a in attempts.values() if len(a) == 2 and a[1].status.is_ok]
    [first_ok] = [a[0] for a in attempts.values() if len(a) == 1]
    # The retry went out only once the bucket had refilled: a second after the admitted call.
    assert retried[1].start_time is not None and first_ok.start_time is not None
    assert retried[1].start_time - first_ok.start_time >= 0.9e9
    [request] = [t for t in agenttrace_capture.tree() if t["attributes"]["http.response.status_code"] == 429]
    context_load = node("context_load", **{"agenttrace.stage": "context_load"})
    assert request["children"] == [context_load, REFUSED_ATTEMPT, REFUSED_ATTEMPT]
    assert {k: request["attributes"][k] for k in ("agenttrace.llm_calls", "agenttrace.stage_calls")} == {
        "agenttrace.llm_calls": 2,
        "agenttrace.stage_calls": (1, 2),
    }
    assert request["attributes"]["agenttrace.stage_durations"] == (DURATION, DURATION)


BURST = 50
RPM = 10  # a bucket of 10 requests, refilled one every 6 s: far longer than the burst takes


async def test_a_burst_of_50_against_a_tight_limit_gets_exact_200s_and_429s_and_no_500(
    agenttrace_capture: Capture, ended_spans: SpanWaiter
) -> None:
    model = ModelConfig(ttft_s=0.01, per_token_s=0.0, answer_words=8, rpm=RPM)
    # Retry-After is seconds here: longer than the agent waits, so it answers 429 at once.
    with agent_service(model, llm_max_retries=2, llm_max_retry_wait_s=0.5) as base_url:
        async with client(BURST) as http:
            sessions = await asyncio.gather(*(new_session(http, base_url) for _ in range(BURST)))
            responses = await asyncio.gather(*(send(http, base_url, s, "Hello") for s in sessions))
        spans = ended_spans.wait_for_kind("SERVER", 2 * BURST)

    assert Counter(r.status_code for r in responses) == {200: RPM, 429: BURST - RPM}
    for response in responses:
        if response.status_code == 429:
            seconds = int(response.headers["retry-after"])
            assert 1 <= seconds <= 6
            assert "retry" in response.json()["error"]["message"]
            assert response.json()["error"]["retry_after"] == seconds
    llm_calls = [s for s in spans if s.attributes and s.attributes.get("agenttrace.stage") == "llm_call"]
    assert Counter(s.attributes.get("error.type", "ok") for s in llm_calls) == {  # type: ignore[union-attr]
        "ok": RPM,
        "RateLimitError": BURST - RPM,
    }
    statuses = Counter(s.attributes["http.response.status_code"] for s in spans if s.kind.name == "SERVER")  # type: ignore[index]
    assert statuses == {200: BURST + RPM, 429: BURST - RPM}  # the session requests, then the messages
