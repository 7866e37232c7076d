"""A run with a concurrency ramp as ``S`` spans, so the same spans can go to the store and to ClickHouse.

Phases of ``concurrency`` requests starting together (20+ requests per level, 2 to 32 in flight). Each request:
an LLM call (tokens), two parallel tool calls, a second LLM call; every 7th request is rate limited (a 429 model
attempt, then its retry, answered 429), every 11th fails (a failing tool, answered 500). Timings grow with the
load and vary per request in fractions of a millisecond, so percentiles interpolate. ``extra`` non-stage spans
(HTTP client calls under the first LLM call) per request change the span count and nothing else a query groups by.
"""

from __future__ import annotations

from tests.report.conftest import CLIENT, TTFB, S, request, stage, tokens

LOADS = [(2, 10), (4, 5), (8, 3), (16, 2), (32, 1)]


def _request(trace: int, start: float, load: int, index: int, run_id: str, extra: int) -> list[S]:
    slow = 1.0 + load / 8 + (index % 5) * 0.137
    llm1 = (start, start + 100 * slow)
    tools = (llm1[1], llm1[1] + 40 * slow, llm1[1] + 25 * slow + index % 3)
    llm2 = (max(tools[1], tools[2]), max(tools[1], tools[2]) + 80 * slow)
    end = llm2[1] + 3.25
    limited, failed = trace % 7 == 0, trace % 11 == 0
    status = 429 if limited else 500 if failed else 200
    roll = {"agenttrace.llm_calls": 2, "agenttrace.tool_calls": 2} if trace % 3 else {}
    spans = [
        request(
            trace, start, end, "chat" if trace % 2 else "search", "/agent", status, **{TTFB: 0.01 * (trace % 9)}, **roll
        )
    ]
    spans.append(stage(trace, 2, 1, *llm1, "llm_call", **tokens(100 + trace, 10 + trace % 4)))
    spans.append(
        stage(trace, 3, 1, tools[0], tools[1], "tool", error=failed, **({"error.type": "ValueError"} if failed else {}))
    )
    spans.append(stage(trace, 4, 1, tools[0], tools[2], "tool"))
    if limited:
        spans.append(
            stage(trace, 5, 1, llm2[0], llm2[0] + 5, "llm_call", error=True, **{"error.type": "RateLimitError"})
        )
        spans.append(stage(trace, 6, 1, llm2[0] + 5, llm2[1], "llm_call", **tokens(50, 5)))
    else:
        spans.append(stage(trace, 6, 1, *llm2, "llm_call", **tokens(200, 20)))
    for n in range(extra):
        at = llm1[0] + (llm1[1] - llm1[0]) * n / max(extra, 1)
        spans.append(
            S(trace, 100 + n, 2, at, at + 1.5, name="POST /v1/chat", kind=CLIENT, attrs={"agenttrace.run_id": run_id})
        )
    for span in spans:
        span.attrs["agenttrace.run_id"] = run_id
    return spans


def ramp_run(run_id: str = "run-a", extra: int = 0, first_trace: int = 1) -> list[S]:
    """The run's spans (see the module docstring); ``extra`` non-stage spans per request."""
    spans: list[S] = []
    trace, at = first_trace, 0.0
    for load, repeats in LOADS:
        for _ in range(repeats):
            longest = 0.0
            for index in range(load):
                batch = _request(trace, at, load, index, run_id, extra)
                longest = max(longest, batch[0].end_ms - at)
                spans += batch
                trace += 1
            at += longest + 10
    return spans
