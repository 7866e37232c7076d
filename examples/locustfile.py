"""The classic agent user, load-testing the example agent service (examples/agent_service) with agenttrace.

    PYTHONPATH=src:. python -m examples.agent_service --port 8000 &
    locust -f examples/locustfile.py --host http://127.0.0.1:8000 --headless -u 20 -r 5 --run-time 5m --csv out/run

One import (``agenttrace.locust``) sends ``traceparent`` and ``baggage`` (run id, scenario = request name,
virtual user) with every request, reads the service's Server-Timing and prints the per-stage table at the end
(and writes ``out/run_agenttrace_*.csv``).

Each user opens a session when it starts (``create session``), then asks simple questions (weight 3),
questions that make the agent call tools (weight 2) and holds three-message conversations (weight 1). The
request names are fixed: they become the scenarios of the run's traces. A 429 whose body says "retry" is the
service shedding load as designed (the model is rate limited): an expected outcome, not a failure.

Environment:
    AGENT_WAIT_S: the longest wait between tasks, for quick runs (default: Locust's ``between(2, 5)``).
"""

from __future__ import annotations

import os
import random
from typing import Any

import agenttrace.locust  # noqa: F401
from locust import FastHttpUser, between, task

QUICK_WAIT_S = os.environ.get("AGENT_WAIT_S")
SIMPLE = ("What are your opening hours?", "Do you ship to Norway?", "How do I reset my password?")
TOOLS = ("Look up order #12345", "Can you search for refunds?", "Look up order #10042 and search for returns")
CONVERSATION = ("I want to return a jacket.", "It is order #12345.", "Please email me the label.")


class AgentUser(FastHttpUser):
    """A user of the support agent: one session, then questions and conversations in it."""

    wait_time = between(0, float(QUICK_WAIT_S)) if QUICK_WAIT_S else between(2, 5)
    session_id: str | None = None

    def on_start(self) -> None:
        self.session_id = self.new_session()

    def new_session(self) -> str | None:
        """Open a session; ``None`` if the service refused (the tasks try again)."""
        with self.client.post("/api/sessions", name="create session", catch_response=True) as response:
            body: Any = response.json() if response.status_code == 200 else None
            if not isinstance(body, dict) or not isinstance(body.get("session_id"), str):
                response.failure(f"status {response.status_code}: no session_id")
                return None
            return str(body["session_id"])

    def say(self, name: str, content: str, tools: bool = False) -> dict[str, Any] | None:
        """Send one message; the agent's answer, or ``None`` when it was shed (429 "retry") or failed.

        With ``tools``, an answer without tool calls is a failure (the question asked for one).
        """
        if self.session_id is None:
            self.session_id = self.new_session()
            if self.session_id is None:
                return None
        path = f"/api/sessions/{self.session_id}/messages"
        with self.client.post(path, json={"content": content}, name=name, catch_response=True) as response:
            if response.status_code == 429 and "retry" in (response.text or "").lower():
                response.success()  # load shedding as designed: the client would retry later
                return None
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
                return None
            body: Any = response.json()
            if not isinstance(body, dict) or not isinstance(body.get("content"), str) or not body["content"]:
                response.failure("no answer in the response")
                return None
            if tools and not body.get("tool_calls"):
                response.failure("the agent called no tool")
                return None
            return body

    @task(3)
    def simple_question(self) -> None:
        self.say("simple question", random.choice(SIMPLE))

    @task(2)
    def tool_calling(self) -> None:
        self.say("tool calling", random.choice(TOOLS), tools=True)

    @task(1)
    def conversation(self) -> None:
        for content in CONVERSATION:
            if self.say("conversation", content) is None:
                return  # a shed or failed turn ends the conversation, as a user would give up
