"""Fixtures for the agent service example: the simulated model and the agent, each on a real uvicorn."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from examples.agent_service.app import create_app
from examples.agent_service.model_server import ModelConfig
from examples.agent_service.model_server import create_app as create_model_app
from examples.agent_service.settings import AgentSettings
from examples.serving import serve

#: A model and an agent with no built-in waits: only what a test turns on costs time.
FAST_MODEL = ModelConfig(ttft_s=0.0, per_token_s=0.0, answer_words=8)
FAST_AGENT = AgentSettings(db_latency_s=0.0, tool_latency_s=0.0, db_pool_size=64)


@contextmanager
def agent_service(model: ModelConfig = FAST_MODEL, **settings: Any) -> Iterator[str]:
    """The simulated model and the agent service in front of it; yields the agent's base URL."""
    with serve(create_model_app(model)) as model_url:
        agent = dataclasses.replace(FAST_AGENT, model_base_url=f"{model_url}/v1", **settings)
        with serve(create_app(agent), lifespan="on") as url:  # lifespan: the pool and client are closed after
            yield url


def client(concurrency: int = 64) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(limits=limits, timeout=60, trust_env=False)


async def new_session(http: httpx.AsyncClient, base_url: str) -> str:
    response = await http.post(f"{base_url}/api/sessions")
    assert response.status_code == 200, response.text
    session_id = response.json()["session_id"]
    assert isinstance(session_id, str)
    return session_id


async def send(http: httpx.AsyncClient, base_url: str, session_id: str, content: str) -> httpx.Response:
    return await http.post(f"{base_url}/api/sessions/{session_id}/messages", json={"content": content})
