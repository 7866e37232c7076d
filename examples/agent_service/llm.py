"""The model calls: one ``llm_call`` stage per attempt, and the agent's own retry policy around it.

The ``openai`` client is told not to retry (``max_retries=0``): a 429 reaches the agent, which waits out
``Retry-After`` (``retry-after-ms`` when the server sends it, as the ``openai`` client does) and tries again,
at most ``llm_max_retries`` times and only for waits up to ``llm_max_retry_wait_s``. Each attempt is its own
span, so a trace shows every 429 (``error.type=RateLimitError``) apart from the request's outcome. When
the model still refuses, :class:`ModelRateLimited` tells the caller how long to wait; any other model
failure is :class:`ModelUnavailable`.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import time
from collections.abc import Mapping
from typing import Any

import openai

import agenttrace
from examples.agent_service.settings import AgentSettings

DEFAULT_RETRY_AFTER_S = 1.0


class ModelRateLimited(Exception):
    """The model kept answering 429; ``retry_after_s`` is its last ``Retry-After``."""

    def __init__(self, retry_after_s: float, attempts: int) -> None:
        super().__init__(f"the model is rate limited after {attempts} attempts; retry after {retry_after_s:.3g} s")
        self.retry_after_s = retry_after_s


class ModelUnavailable(Exception):
    """The model failed some other way (connection, timeout, 5xx, a bad answer)."""


def retry_after(headers: Mapping[str, str]) -> float:
    """Seconds to wait from a 429's headers: ``retry-after-ms``, else ``retry-after`` (seconds or a date)."""
    try:
        return float(headers["retry-after-ms"]) / 1000
    except (KeyError, ValueError):
        pass
    value = headers.get("retry-after", "")
    try:
        return float(value)
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, when.timestamp() - time.time()) if when else DEFAULT_RETRY_AFTER_S


class Model:
    """The chat model behind ``settings.model_base_url``."""

    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        api_key = os.environ.get("OPENAI_API_KEY") or "not-needed-locally"
        self.client = openai.AsyncOpenAI(base_url=settings.model_base_url, api_key=api_key, max_retries=0)
        self._attempt = agenttrace.stage("llm_call", model=settings.model, provider="openai")(self._create)

    async def _create(self, **request: Any) -> Any:
        return await self.client.chat.completions.create(**request)

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, stream: bool) -> Any:
        """One chat completion (an ``AsyncStream`` when ``stream``), retried on 429 by the agent's policy."""
        request: dict[str, Any] = {"model": self.settings.model, "messages": messages}
        if tools:
            request["tools"] = tools
        if stream:
            request.update(stream=True, stream_options={"include_usage": True})
        retries = self.settings.llm_max_retries
        for attempt in range(retries + 1):
            try:
                return await self._attempt(**request)
            except openai.RateLimitError as exc:
                wait = retry_after(exc.response.headers)
                if attempt == retries or wait > self.settings.llm_max_retry_wait_s:
                    raise ModelRateLimited(wait, attempt + 1) from exc
            except openai.OpenAIError as exc:
                raise ModelUnavailable(f"the model failed: {type(exc).__name__}: {exc}") from exc
            await asyncio.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.client.close()
