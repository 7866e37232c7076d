"""The agent service's knobs, and how every knob of the example is read from the environment or a flag.

Each field of a settings dataclass is one knob: ``AGENT_DB_POOL_SIZE=2`` or ``--db-pool-size 2`` sets
``AgentSettings.db_pool_size`` (the simulated model's :class:`~.model_server.ModelConfig` uses ``MODEL_`` and
``--model-``). A flag wins over the environment, which wins over the default. examples/README.md lists them.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class AgentSettings:
    """How the agent service behaves; each knob can make one stage the bottleneck."""

    #: OpenAI-compatible base URL (``http://127.0.0.1:PORT/v1``); empty: ``python -m`` starts the simulated model.
    model_base_url: str = ""
    #: The model asked for (``gen_ai.request.model``).
    model: str = "gpt-4o-mini"
    #: SQLite file; empty: a fresh temporary database per app.
    db_path: str = ""
    #: Connections in the pool. A message holds one from ``context_load`` until ``memory_save`` is done (a
    #: request-scoped session), so this caps the messages in flight; waiting for one shows in ``context_load``.
    db_pool_size: int = 8
    #: Simulated round trip of each database call, in seconds (the connection is busy meanwhile).
    db_latency_s: float = 0.002
    #: Time each tool call takes, in seconds (the backend it calls).
    tool_latency_s: float = 0.05
    #: Tool calls running at once across the service; more wait in ``tool_call``. 0: unlimited.
    tool_concurrency: int = 0
    #: Retries of a model call answered 429 (each attempt is its own ``llm_call`` span).
    llm_max_retries: int = 2
    #: Longest ``Retry-After`` the agent waits out; a longer one is passed on to its client at once.
    llm_max_retry_wait_s: float = 5.0
    #: Earlier messages of the session sent to the model.
    history_messages: int = 20
    #: Model calls per message at most (tool rounds + the answer).
    max_steps: int = 3

    def __post_init__(self) -> None:
        for name in ("db_pool_size", "max_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("db_latency_s", "tool_latency_s", "tool_concurrency", "llm_max_retries", "llm_max_retry_wait_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")


def from_env(cls: type[T], prefix: str, environ: Mapping[str, str] | None = None, **overrides: Any) -> T:
    """Build ``cls`` from ``PREFIX_FIELD`` environment variables, then ``overrides`` (e.g. parsed flags).

    Raises:
        ValueError: A variable does not parse as the field's type (the message names the variable).
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        var = f"{prefix}{f.name.upper()}"
        if var in environ:
            values[f.name] = _parse(var, environ[var], type(f.default))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return cls(**values)


_KINDS = {int: "an integer", float: "a number"}


def _parse(name: str, raw: str, kind: type) -> Any:
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be {_KINDS.get(kind, kind.__name__)}, got {raw!r}") from None


def add_flags(parser: argparse.ArgumentParser, cls: type, flag_prefix: str = "") -> None:
    """Add one ``--flag`` per field of ``cls`` (default ``None``: the environment or the field default)."""
    group = parser.add_argument_group(cls.__name__)
    for f in dataclasses.fields(cls):
        flag = "--" + flag_prefix + f.name.replace("_", "-")
        group.add_argument(flag, dest=flag_prefix.replace("-", "_") + f.name, type=type(f.default), default=None)


def flags_for(args: argparse.Namespace, cls: type, flag_prefix: str = "") -> dict[str, Any]:
    """The values of ``cls``'s flags in ``args``, by field name."""
    dest = flag_prefix.replace("-", "_")
    return {f.name: getattr(args, dest + f.name) for f in dataclasses.fields(cls)}
