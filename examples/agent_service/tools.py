"""The agent's tools: ``lookup_order`` (reads the orders table) and ``search`` (a help-centre search API).

Each call is one ``tool_call`` stage. A call first takes a slot of the tool backend (``tool_concurrency``
slots across the service, unlimited when 0: waiting for one is time in the stage), then spends
``tool_latency_s`` in the backend. Bad arguments from the model become an error result the model sees, as
in a real agent, never an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import agenttrace
from examples.agent_service import db
from examples.agent_service.settings import AgentSettings

SCHEMAS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look up an order by its number.",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the help centre.",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
        },
    },
]
ARTICLES = (
    "Refunds are paid to the original payment method within 5 days",
    "Returns are free within 30 days of delivery",
    "Shipping takes 2 to 4 working days",
    "Change the delivery address before the order ships",
    "Warranty claims need the order number",
)


class ToolBackend:
    """The services the tools call: their latency and how many calls they take at once."""

    def __init__(self, settings: AgentSettings) -> None:
        self.latency_s = settings.tool_latency_s
        self._slots = asyncio.Semaphore(settings.tool_concurrency) if settings.tool_concurrency else None

    @contextlib.asynccontextmanager
    async def call(self) -> AsyncIterator[None]:
        """One call to the backend: wait for a slot, then its latency."""
        async with self._slots or contextlib.nullcontext():
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            yield


@agenttrace.stage("tool_call", tool="lookup_order")
async def lookup_order(backend: ToolBackend, lease: db.Lease, order_id: str) -> dict[str, Any]:
    async with backend.call():
        order = await lease.run(db.find_order, order_id)
    return order or {"order_id": order_id, "error": "no such order"}


@agenttrace.stage("tool_call", tool="search")
async def search(backend: ToolBackend, query: str) -> dict[str, Any]:
    async with backend.call():
        words = set(query.lower().split())
        hits = [a for a in ARTICLES if words & set(a.lower().split())]
    return {"query": query, "results": hits[:3]}


async def run_tool(backend: ToolBackend, lease: db.Lease, name: str, arguments: str) -> dict[str, Any]:
    """Run the tool the model asked for with its JSON ``arguments``; problems become an error result."""
    try:
        args = json.loads(arguments)
        if name == "lookup_order":
            return await lookup_order(backend, lease, str(args["order_id"]))
        if name == "search":
            return await search(backend, str(args["query"]))
    except (ValueError, KeyError, TypeError) as exc:
        return {"error": f"bad arguments for {name}: {exc}"}
    return {"error": f"no tool named {name!r}"}
