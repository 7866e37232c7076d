"""What a demo run does: the bottleneck's knobs, the user ramp, and where the example service lives."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

#: Knobs of examples/agent_service per bottleneck (examples/README.md, "Make one stage the bottleneck").
#: The llm case keeps the model's capacity small so the ramp passes it early; the other cases make the model
#: fast, so the chosen stage's queue is what grows. A message holds a pooled database connection from
#: context_load to memory_save: outside the context_load case the pool is larger than the top user count,
#: else the pool, not the chosen stage, caps the messages in flight and the wait shows in context_load.
BOTTLENECKS: dict[str, dict[str, str]] = {
    "llm": {"MODEL_CAPACITY": "2", "MODEL_TTFT_S": "0.05", "MODEL_PER_TOKEN_S": "0.01"},
    "context_load": {"AGENT_DB_POOL_SIZE": "2", "MODEL_TTFT_S": "0.05", "MODEL_PER_TOKEN_S": "0.005"},
    "tool": {
        "AGENT_TOOL_CONCURRENCY": "1",
        "AGENT_TOOL_LATENCY_S": "0.15",
        "MODEL_TTFT_S": "0.05",
        "MODEL_PER_TOKEN_S": "0.002",
    },
    "none": {},
}

#: Share of the run spent ramping up; the rest holds the top user count.
RAMP_SHARE = 0.75
#: Longest wait between a Locust user's tasks (``AGENT_WAIT_S`` of examples/locustfile.py) and k6's THINK_S.
THINK_S = 1.0


@dataclass(frozen=True)
class DemoPlan:
    """One demo run.

    Attributes:
        bottleneck: A key of :data:`BOTTLENECKS`.
        users: Virtual users at the top of the ramp.
        duration_s: Seconds of load (ramp then hold).
        tool: ``locust`` or ``k6``.
        root: The source checkout holding ``examples/``.
        out_dir: Where the span store, logs and reports go.
    """

    bottleneck: str
    users: int
    duration_s: float
    tool: str
    root: Path
    out_dir: Path
    knobs: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        if self.bottleneck not in BOTTLENECKS:
            raise ValueError(f"unknown bottleneck {self.bottleneck!r}: use one of {', '.join(BOTTLENECKS)}")
        if self.users < 1:
            raise ValueError(f"--users must be at least 1, got {self.users}")
        if not self.duration_s >= 5:
            raise ValueError(f"--duration must be at least 5 seconds, got {self.duration_s:g}")
        knobs = dict(BOTTLENECKS[self.bottleneck])
        knobs.setdefault("AGENT_DB_POOL_SIZE", str(max(8, self.users + 4)))  # a connection for every user
        object.__setattr__(self, "knobs", knobs)

    @property
    def ramp_s(self) -> float:
        """Seconds from one user to ``users``."""
        return self.duration_s * RAMP_SHARE

    def users_at(self, elapsed_s: float) -> int:
        """The target user count ``elapsed_s`` into the load (see :func:`ramp_users`)."""
        return ramp_users(self.users, self.ramp_s, elapsed_s)


def ramp_users(users: int, ramp_s: float, elapsed_s: float) -> int:
    """A linear ramp from one user to ``users`` over ``ramp_s`` seconds, then a hold (the Locust shape uses it)."""
    if elapsed_s >= ramp_s:
        return users
    return max(1, min(users, math.ceil(users * elapsed_s / ramp_s)))


def find_checkout(candidates: list[Path]) -> Path | None:
    """The first of ``candidates`` that holds ``examples/agent_service`` (the demo needs a source checkout)."""
    for root in candidates:
        if (root / "examples" / "agent_service" / "__main__.py").is_file():
            return root.resolve()
    return None
