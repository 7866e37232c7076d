"""What the simulated model says: deterministic replies and token counts from the request alone.

The "model" calls a tool when it is offered one and the user's last message asks for it ("Look up order
#12345" calls ``lookup_order``; "search for refunds" calls ``search``; several requests in one message give
several calls of one step). Otherwise it answers: a sentence that quotes the previous user turn (so multi-turn
memory is visible), one per tool result it was given, then filler up to the configured answer length.
A token is a whitespace-separated word: prompt tokens are the words of every message, completion tokens the
words of the answer (or of the tool calls' arguments).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

ORDER_RE = re.compile(r"\border\s*#\s*(\d+)", re.IGNORECASE)
SEARCH_RE = re.compile(r"\bsearch(?:\s+for)?\s+([^.?!]+)", re.IGNORECASE)
FILLER = "I hope this helps, and let me know if there is anything else I can do for you today.".split()


@dataclass(frozen=True)
class ToolCall:
    """One function call the model asks for."""

    name: str
    arguments: str  # JSON text, as OpenAI sends it


@dataclass(frozen=True)
class Reply:
    """The model's whole reply to one request: answer words, or tool calls."""

    words: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str = "stop"

    @property
    def completion_tokens(self) -> int:
        """Tokens the reply costs: its words, or the words of the calls' names and arguments."""
        if self.tool_calls:
            return sum(count_words(c.name) + count_words(c.arguments) for c in self.tool_calls)
        return len(self.words)


def count_words(text: str) -> int:
    """Tokens in ``text``: whitespace-separated words."""
    return len(text.split())


def _text(content: Any) -> str:
    """A message's content as text (plain strings and lists of text parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """Tokens of the prompt: the words of every message's content and of the tool calls it carries."""
    total = 0
    for message in messages:
        total += count_words(_text(message.get("content")))
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            total += count_words(str(function.get("name", ""))) + count_words(str(function.get("arguments", "")))
    return total


def _tool_calls(text: str, offered: set[str]) -> list[ToolCall]:
    calls = []
    if "lookup_order" in offered:
        calls += [ToolCall("lookup_order", json.dumps({"order_id": n})) for n in ORDER_RE.findall(text)]
    if "search" in offered:
        calls += [ToolCall("search", json.dumps({"query": q.strip()})) for q in SEARCH_RE.findall(text)]
    return calls


def reply_to(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]], answer_words: int, max_tokens: int | None
) -> Reply:
    """The model's reply to a chat completion request."""
    offered = {str((t.get("function") or {}).get("name")) for t in tools if isinstance(t, dict)}
    last = messages[-1] if messages else {}
    if last.get("role") == "user":
        calls = _tool_calls(_text(last.get("content")), offered)
        if calls:
            return Reply(tool_calls=calls, finish_reason="tool_calls")
    users = [_text(m.get("content")) for m in messages if m.get("role") == "user"]
    lead: list[str] = []
    if len(users) > 1:
        lead += f'Following up on "{users[-2]}":'.split()
    lead += f"You said: {users[-1]}".split() if users else []
    for message in messages[_last_user(messages) + 1 :]:  # the results of this turn's tool calls
        if message.get("role") == "tool":
            lead += f"Tool result: {_text(message.get('content'))}".split()
    words = lead + [FILLER[i % len(FILLER)] for i in range(max(0, answer_words - len(lead)))]
    if max_tokens is not None and len(words) > max_tokens:
        return Reply(words=words[:max_tokens], finish_reason="length")
    return Reply(words=words)


def _last_user(messages: list[dict[str, Any]]) -> int:
    return max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
