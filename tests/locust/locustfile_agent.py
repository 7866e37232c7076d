"""Locust users for the plugin tests: one HttpUser and one FastHttpUser asking the same question."""

from __future__ import annotations

import agenttrace.locust  # noqa: F401
from locust import FastHttpUser, HttpUser, constant, task


class HttpAgent(HttpUser):
    wait_time = constant(0.05)

    @task
    def ask(self) -> None:
        self.client.get("/ask", name="ask")


class FastAgent(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def ask(self) -> None:
        self.client.get("/ask", name="ask")


class FailingAgent(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def broken(self) -> None:
        self.client.get("/broken")


class OwnHeadersAgent(HttpUser):
    """Sends its own traceparent and baggage: both are kept, agenttrace's baggage is appended."""

    wait_time = constant(0.05)

    @task
    def ask(self) -> None:
        headers = {"Traceparent": "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01", "Baggage": "tenant=acme"}
        self.client.get("/ask", name="own", headers=headers)
