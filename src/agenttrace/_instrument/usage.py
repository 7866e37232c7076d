"""Token usage: what one LLM stage consumed, read from whatever the LLM client returned.

Understands, by shape rather than by import (so neither SDK is a dependency): OpenAI chat completions and
their stream chunks, OpenAI Responses objects and stream events, Anthropic messages and stream events, and
plain dicts of the same shapes. ``gen_ai.usage.input_tokens`` includes cached input tokens, as the GenAI
conventions ask (Anthropic reports them separately, so they are summed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agenttrace import _names as sc


def _get(obj: Any, name: str) -> Any:
    """``obj[name]`` for mappings, ``obj.name`` otherwise; ``None`` when absent."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


@dataclass
class Usage:
    """Token counts and response facts of one LLM call; ``None`` means "not reported"."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    reasoning_output_tokens: int | None = None
    response_model: str | None = None
    response_id: str | None = None
    finish_reasons: list[str] = field(default_factory=list)

    def merge(self, other: Usage) -> None:
        """Take every value ``other`` reports (streams report usage piecemeal; later values win)."""
        for name in (
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
            "reasoning_output_tokens",
            "response_model",
            "response_id",
        ):
            value = getattr(other, name)
            if value is not None:
                setattr(self, name, value)
        for reason in other.finish_reasons:
            if reason not in self.finish_reasons:
                self.finish_reasons.append(reason)

    def add_tokens(self, input_tokens: int | None, output_tokens: int | None, **extra: int | None) -> None:
        """Add counts reported by hand (``record_usage``); they accumulate over several calls."""
        self.input_tokens = _sum(self.input_tokens, input_tokens)
        self.output_tokens = _sum(self.output_tokens, output_tokens)
        for name, value in extra.items():
            setattr(self, name, _sum(getattr(self, name), value))

    def span_attributes(self) -> dict[str, Any]:
        """The ``gen_ai.*`` span attributes for what is known."""
        pairs: list[tuple[str, Any]] = [
            (sc.GEN_AI_USAGE_INPUT_TOKENS, self.input_tokens),
            (sc.GEN_AI_USAGE_OUTPUT_TOKENS, self.output_tokens),
            (sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, self.cache_read_input_tokens),
            (sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, self.cache_creation_input_tokens),
            (sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, self.reasoning_output_tokens),
            (sc.GEN_AI_RESPONSE_MODEL, self.response_model),
            (sc.GEN_AI_RESPONSE_ID, self.response_id),
        ]
        attributes = {key: value for key, value in pairs if value is not None}
        if self.finish_reasons:
            attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(self.finish_reasons)
        return attributes


def _sum(a: int | None, b: int | None) -> int | None:
    if b is None:
        return a
    return b if a is None else a + b


def _usage_counts(usage: Any, into: Usage) -> None:
    """Read a ``usage`` block of any supported shape into ``into``."""
    prompt = _int(_get(usage, "prompt_tokens"))
    if prompt is not None or _get(usage, "completion_tokens") is not None:  # OpenAI chat completions
        into.input_tokens = prompt
        into.output_tokens = _int(_get(usage, "completion_tokens"))
        into.cache_read_input_tokens = _int(_get(_get(usage, "prompt_tokens_details"), "cached_tokens"))
        into.reasoning_output_tokens = _int(_get(_get(usage, "completion_tokens_details"), "reasoning_tokens"))
        return
    into.output_tokens = _int(_get(usage, "output_tokens"))
    input_tokens = _int(_get(usage, "input_tokens"))
    cache_read = _int(_get(usage, "cache_read_input_tokens"))
    cache_creation = _int(_get(usage, "cache_creation_input_tokens"))
    if cache_read is not None or cache_creation is not None or "cache_read_input_tokens" in _fields(usage):
        # Anthropic: input_tokens excludes the cached part; the conventions want the total.
        into.cache_read_input_tokens = cache_read
        into.cache_creation_input_tokens = cache_creation
        if input_tokens is not None:
            input_tokens += (cache_read or 0) + (cache_creation or 0)
        into.input_tokens = input_tokens
        into.reasoning_output_tokens = _int(_get(_get(usage, "output_tokens_details"), "thinking_tokens"))
        return
    # OpenAI Responses API.
    into.input_tokens = input_tokens
    into.cache_read_input_tokens = _int(_get(_get(usage, "input_tokens_details"), "cached_tokens"))
    into.reasoning_output_tokens = _int(_get(_get(usage, "output_tokens_details"), "reasoning_tokens"))


def _fields(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return obj
    return getattr(type(obj), "model_fields", ())


#: Result types that never carry usage: skipped without looking inside.
PLAIN_TYPES = frozenset({type(None), bool, int, float, str, bytes, list, tuple, set})


def usage_from_response(obj: Any) -> Usage | None:
    """Usage of a whole (non-streamed) response, or ``None`` if ``obj`` is not one we recognise."""
    if type(obj) in PLAIN_TYPES:
        return None
    usage_block = _get(obj, "usage")
    model = _get(obj, "model")
    if usage_block is None and not isinstance(model, str):
        return None
    usage = Usage()
    if usage_block is not None:
        _usage_counts(usage_block, usage)
    if isinstance(model, str):
        usage.response_model = model
    response_id = _get(obj, "id")
    if isinstance(response_id, str):
        usage.response_id = response_id
    choices = _get(obj, "choices")
    if isinstance(choices, (list, tuple)):
        usage.finish_reasons = [r for r in (_get(c, "finish_reason") for c in choices) if isinstance(r, str)]
    stop_reason = _get(obj, "stop_reason")
    if isinstance(stop_reason, str):
        usage.finish_reasons = [stop_reason]
    return usage


def usage_from_chunk(chunk: Any) -> Usage | None:
    """Usage reported by one stream chunk or event, or ``None`` if it reports nothing."""
    kind = _get(chunk, "type")
    if kind == "message_start":  # Anthropic: the message skeleton carries input usage and the model
        return usage_from_response(_get(chunk, "message"))
    if isinstance(kind, str) and kind.startswith("response.") and _get(chunk, "response") is not None:
        return usage_from_response(_get(chunk, "response"))  # OpenAI Responses stream events
    if kind == "message_delta":  # Anthropic: cumulative output usage and the stop reason
        usage = Usage()
        block = _get(chunk, "usage")
        if block is not None:
            _usage_counts(block, usage)
        stop_reason = _get(_get(chunk, "delta"), "stop_reason")
        if isinstance(stop_reason, str):
            usage.finish_reasons = [stop_reason]
        return usage
    return usage_from_response(chunk)  # OpenAI chat completion chunks (usage on the final one)
