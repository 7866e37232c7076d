"""The classic agent user, load-testing an agent service with agenttrace's Locust plugin.

    locust -f examples/locustfile.py --host http://127.0.0.1:8000 --headless -u 20 -r 5 --run-time 5m --csv out/run

One import (``agenttrace.locust``) sends ``traceparent`` and ``baggage`` (run id, scenario, user), reads the
service's Server-Timing and prints the per-stage table at the end (and writes ``out/run_agenttrace_*.csv``).

Environment:
    AGENT_PATH: the agent endpoint (default ``/agent``); it takes ``{"messages": [...], "tools": bool}``.
    AGENT_WAIT_S: a maximum wait between tasks for quick runs (default: Locust's ``between(2, 5)``).
"""

from __future__ import annotations

import os
from typing import Any

import agenttrace.locust  # noqa: F401
from locust import FastHttpUser, between, task

AGENT_PATH = os.environ.get("AGENT_PATH", "/agent")
QUICK_WAIT_S = os.environ.get("AGENT_WAIT_S")


class AgentUser(FastHttpUser):
    """A user asking simple questions (3), tool-calling questions (2) and holding three-message chats (1)."""

    wait_time = between(0, float(QUICK_WAIT_S)) if QUICK_WAIT_S else between(2, 5)

    def ask(self, name: str, messages: list[dict[str, str]], tools: bool = False) -> str:
        """One agent request; a 429 that says "retry" is the service shedding load as designed, not a failure."""
        with self.client.post(
            AGENT_PATH, json={"messages": messages, "tools": tools}, name=name, catch_response=True
        ) as response:
            if response.status_code == 429 and "retry" in (response.text or "").lower():
                response.success()
                return ""
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
                return ""
            body: Any = response.json() if response.text else {}
            return str(body.get("answer", "")) if isinstance(body, dict) else ""

    @task(3)
    def simple_question(self) -> None:
        self.ask("simple question", [{"role": "user", "content": "What are your opening hours?"}])

    @task(2)
    def tool_calling(self) -> None:
        self.ask("tool calling", [{"role": "user", "content": "Where is my order 1234?"}], tools=True)

    @task(1)
    def conversation(self) -> None:
        messages: list[dict[str, str]] = []
        for text in ("I want to return a jacket.", "It is order 1234.", "Please email me the label."):
            messages.append({"role": "user", "content": text})
            answer = self.ask("conversation", messages)
            messages.append({"role": "assistant", "content": answer})
