"""The example agent service behind real uvicorn servers, with the real openai client and simulated model.

One tool-calling message gives exactly the span tree a user should see; the session remembers earlier turns;
the streaming variant sends the answer as server-sent events, then the whole turn with its usage.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from agenttrace.testing import DURATION, Capture
from tests.conftest import SpanWaiter
from tests.examples.conftest import FAST_MODEL, agent_service, client, new_session, send
from tests.trees import node

SYSTEM_WORDS = 10  # "You are a helpful support agent for an online shop."
ORDER = {"order_id": "12345", "item": "headphones", "status": "shipped", "eta": "2025-10-26"}
UA = "python-httpx/"


def server(path: str, route: str, port: int, children: Any = (), **more: Any) -> dict[str, Any]:
    attrs = {
        "agenttrace.llm_calls": 0,
        "agenttrace.response.time_to_first_byte": DURATION,
        "agenttrace.tool_calls": 0,
        "client.address": "127.0.0.1",
        "gen_ai.usage.input_tokens": 0,
        "gen_ai.usage.output_tokens": 0,
        "http.request.method": "POST",
        "http.response.status_code": 200,
        "http.route": route,
        "network.protocol.version": "1.1",
        "server.address": "127.0.0.1",
        "server.port": port,
        "url.path": path,
        "url.scheme": "http",
        "user_agent.original": UA,
        **more,
    }
    return node(f"POST {route}", "SERVER", children=children, **attrs)


def llm(response: int, finish: str, tokens: tuple[int, int]) -> dict[str, Any]:
    return node(
        "chat gpt-4o-mini",
        "CLIENT",
        **{
            "agenttrace.stage": "llm_call",
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.finish_reasons": (finish,),
            "gen_ai.response.id": f"chatcmpl-{response:06d}",
            "gen_ai.response.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": tokens[0],
            "gen_ai.usage.output_tokens": tokens[1],
        },
    )


def tool(name: str) -> dict[str, Any]:
    attrs = {"agenttrace.stage": "tool_call", "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}
    return node(f"execute_tool {name}", **attrs)


def plain(stage: str) -> dict[str, Any]:
    return node(stage, **{"agenttrace.stage": stage})


def without_user_agent_version(tree: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for root in tree:
        assert root["attributes"]["user_agent.original"].startswith(UA)
        root["attributes"]["user_agent.original"] = UA
    return tree


async def test_a_tool_calling_message_gives_the_whole_span_tree(
    agenttrace_capture: Capture, ended_spans: SpanWaiter
) -> None:
    with agent_service() as base_url:
        async with client() as http:
            session_id = await new_session(http, base_url)
            response = await send(http, base_url, session_id, "Look up order #12345")
        ended_spans.wait_for_kind("SERVER", 2)

    order_json = json.dumps(ORDER)
    answer = f"You said: Look up order #12345 Tool result: {order_json}"
    plan_tokens = (SYSTEM_WORDS + 4, 3)  # the message's words; "lookup_order" + its two argument words
    answer_tokens = (plan_tokens[0] + 3 + 8, 16)  # + the call the model made + the tool result's 8 words
    assert response.status_code == 200
    assert response.json() == {
        "content": answer,
        "tool_calls": [{"name": "lookup_order", "arguments": '{"order_id": "12345"}', "output": ORDER}],
        "usage": {"prompt_tokens": 39, "completion_tokens": 19, "llm_calls": 2, "total_tokens": 58},
    }
    assert len(answer.split()) == answer_tokens[1]
    port = int(base_url.rsplit(":", 1)[1])
    path = f"/api/sessions/{session_id}/messages"
    stages = ("context_load", "llm_call", "tool_call", "memory_save")
    assert without_user_agent_version(agenttrace_capture.tree()) == [
        server("/api/sessions", "/api/sessions", port),
        server(
            path,
            "/api/sessions/{session_id}/messages",
            port,
            children=[
                plain("context_load"),
                llm(1, "tool_calls", plan_tokens),
                tool("lookup_order"),
                llm(2, "stop", answer_tokens),
                plain("memory_save"),
            ],
            **{
                "agenttrace.llm_calls": 2,
                "agenttrace.tool_calls": 1,
                "agenttrace.stages": stages,
                "agenttrace.stage_calls": (1, 2, 1, 1),
                "agenttrace.stage_durations": (DURATION,) * 4,
                "gen_ai.usage.input_tokens": 39,
                "gen_ai.usage.output_tokens": 19,
            },
        ),
    ]


async def test_tools_of_one_step_run_in_parallel_and_the_session_remembers_earlier_turns(
    agenttrace_capture: Capture, ended_spans: SpanWaiter
) -> None:
    with agent_service() as base_url:
        async with client() as http:
            session_id = await new_session(http, base_url)
            first = await send(http, base_url, session_id, "Look up order #12346 and search for refunds")
            second = await send(http, base_url, session_id, "Thanks")
            other = await send(http, base_url, await new_session(http, base_url), "Thanks")
        spans = ended_spans.wait_for_kind("SERVER", 5)

    assert [r.status_code for r in (first, second, other)] == [200, 200, 200]
    assert [c["name"] for c in first.json()["tool_calls"]] == ["lookup_order", "search"]
    assert first.json()["tool_calls"][1]["output"] == {
        "query": "refunds",
        "results": ["Refunds are paid to the original payment method within 5 days"],
    }
    # The second turn's prompt holds the first exchange; a new session's does not.
    assert second.json()["content"] == 'Following up on "Look up order #12346 and search for refunds": You said: Thanks'
    assert other.json()["content"] == "You said: Thanks I hope this helps, and"
    assert second.json()["usage"]["prompt_tokens"] == (SYSTEM_WORDS + 8 + len(first.json()["content"].split()) + 1)
    assert other.json()["usage"]["prompt_tokens"] == SYSTEM_WORDS + 1
    tools = sorted((s for s in spans if s.name.startswith("execute_tool")), key=lambda s: s.start_time or 0)
    assert [s.name for s in tools] == ["execute_tool lookup_order", "execute_tool search"]
    lookup, search = tools
    assert search.start_time is not None and lookup.end_time is not None
    assert search.start_time < lookup.end_time  # both were started before either ended: one step, in parallel


async def test_the_streaming_variant_sends_the_answer_then_the_turn_with_its_usage(
    agenttrace_capture: Capture, ended_spans: SpanWaiter
) -> None:
    with agent_service() as base_url:
        async with client() as http:
            session_id = await new_session(http, base_url)
            url = f"{base_url}/api/sessions/{session_id}/messages/stream"
            async with http.stream("POST", url, json={"content": "Look up order #12345"}) as response:
                body = "".join([part async for part in response.aiter_text()])
                headers = response.headers
        ended_spans.wait_for_kind("SERVER", 2)

    assert response.status_code == 200
    assert headers["content-type"].startswith("text/event-stream")
    events = body.split("\n\n")
    assert events[-1] == ""
    answer = f"You said: Look up order #12345 Tool result: {json.dumps(ORDER)}"
    words = answer.split()
    expected_pieces = [f"data: {json.dumps({'content': w if i == 0 else ' ' + w})}" for i, w in enumerate(words)]
    assert events[:-2] == expected_pieces
    done = events[-2]
    assert done.startswith("event: done\ndata: ")
    assert json.loads(done.removeprefix("event: done\ndata: ")) == {
        "content": answer,
        "tool_calls": [{"name": "lookup_order", "arguments": '{"order_id": "12345"}', "output": ORDER}],
        "usage": {"prompt_tokens": 39, "completion_tokens": 19, "llm_calls": 2, "total_tokens": 58},
    }
    [request] = [s for s in agenttrace_capture.spans() if s["kind"] == "SERVER" and "stream" in s["name"]]
    assert request["attributes"]["gen_ai.usage.input_tokens"] == 39
    assert request["attributes"]["gen_ai.usage.output_tokens"] == 19
    streamed = [s for s in agenttrace_capture.spans() if s["name"] == "chat gpt-4o-mini"]
    assert [s["attributes"]["gen_ai.response.time_to_first_chunk"] for s in streamed] == [DURATION, DURATION]


async def test_an_unknown_session_is_404_and_costs_no_model_call(
    agenttrace_capture: Capture, ended_spans: SpanWaiter
) -> None:
    with agent_service() as base_url:
        async with client() as http:
            response = await send(http, base_url, "nope", "hello")
            stream = await http.post(f"{base_url}/api/sessions/nope/messages/stream", json={"content": "hello"})
        ended_spans.wait_for_kind("SERVER", 2)

    assert (response.status_code, response.json()) == (
        404,
        {"error": {"message": "no session nope", "type": "not_found"}},
    )
    assert stream.status_code == 404
    port = int(base_url.rsplit(":", 1)[1])
    failed_load = node(
        "context_load",
        status="ERROR",
        events=["exception"],
        **{"agenttrace.stage": "context_load", "agenttrace.outcome": "error", "error.type": "UnknownSession"},
    )
    rollup = {
        "agenttrace.stages": ("context_load",),
        "agenttrace.stage_calls": (1,),
        "agenttrace.stage_durations": (DURATION,),
        "http.response.status_code": 404,
    }
    route = "/api/sessions/{session_id}/messages"
    assert without_user_agent_version(agenttrace_capture.tree()) == [
        server("/api/sessions/nope/messages", route, port, children=[failed_load], **rollup),
        server("/api/sessions/nope/messages/stream", route + "/stream", port, children=[failed_load], **rollup),
    ]


async def test_a_client_leaving_mid_stream_gives_the_connection_back_and_ends_the_model_call(
    agenttrace_capture: Capture, ended_spans: SpanWaiter
) -> None:
    slow_answer = dataclasses.replace(FAST_MODEL, per_token_s=0.05, answer_words=200)  # 10 s if read to the end
    with agent_service(slow_answer, db_pool_size=1) as base_url:
        async with client() as http:
            session_id = await new_session(http, base_url)
            url = f"{base_url}/api/sessions/{session_id}/messages/stream"
            async with http.stream("POST", url, json={"content": "Hello"}) as response:
                first = await anext(response.aiter_lines())
            # The pool's only connection is free again (a new session needs it) long before the answer would end.
            after = await http.post(f"{base_url}/api/sessions", timeout=5)
        spans = ended_spans.wait_for_kind("SERVER", 3)

    assert first == 'data: {"content": "You"}'
    assert after.status_code == 200
    left = [s for s in spans if s.name == "chat gpt-4o-mini"][0]
    assert left.attributes is not None
    assert left.attributes["agenttrace.outcome"] == "cancelled"  # Starlette cancels the stream's task
    assert left.end_time is not None and left.start_time is not None
    assert left.end_time - left.start_time < 5e9  # ended when the client left, not after the whole answer
