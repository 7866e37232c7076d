"""agenttrace.testing: the capture context manager and the pytest fixture users get."""

from __future__ import annotations

import importlib.metadata

import agenttrace
from agenttrace._instrument import providers as _providers
from agenttrace.testing import capture


def test_capture_routes_spans_and_restores_afterwards() -> None:
    with capture() as cap:
        with agenttrace.stage("plan"):
            with agenttrace.stage("llm_call", model="m") as s:
                s.record_usage(input_tokens=2)
    assert _providers.current_tracer() is _providers._global_tracer
    assert cap.tree() == [
        {
            "name": "plan",
            "kind": "INTERNAL",
            "status": "UNSET",
            "attributes": {"agenttrace.stage": "plan"},
            "events": [],
            "children": [
                {
                    "name": "chat m",
                    "kind": "CLIENT",
                    "status": "UNSET",
                    "attributes": {
                        "agenttrace.stage": "llm_call",
                        "gen_ai.operation.name": "chat",
                        "gen_ai.request.model": "m",
                        "gen_ai.usage.input_tokens": 2,
                    },
                    "events": [],
                    "children": [],
                }
            ],
        }
    ]
    assert [(s["name"], s["id"], s["parent"], s["trace"]) for s in cap.spans()] == [
        ("chat m", 2, 1, 1),
        ("plan", 1, None, 1),
    ]
    cap.clear()
    assert cap.spans() == []


def test_pytest_plugin_is_registered() -> None:
    plugins = importlib.metadata.entry_points(group="pytest11")
    assert [ep.value for ep in plugins if ep.name == "agenttrace"] == ["agenttrace.pytest_plugin"]
