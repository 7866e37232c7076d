"""The demo's locustfile: examples/locustfile.py's AgentUser with a ramp (a LoadTestShape).

``agenttrace demo`` runs Locust on this file from the source checkout; the ramp comes from the environment:
``AGENTTRACE_DEMO_USERS`` users at the top, reached after ``AGENTTRACE_DEMO_RAMP_S`` seconds, the test ending
after ``AGENTTRACE_DEMO_DURATION_S`` (Locust then stops its users and exits).
"""

from __future__ import annotations

import os

from agenttrace._demo.plan import ramp_users
from examples.locustfile import AgentUser
from locust import LoadTestShape

__all__ = ["AgentUser", "DemoRamp"]


class DemoRamp(LoadTestShape):
    """One user, a linear ramp to the top, a hold, then the end of the test."""

    users = int(os.environ.get("AGENTTRACE_DEMO_USERS", "10"))
    duration_s = float(os.environ.get("AGENTTRACE_DEMO_DURATION_S", "60"))
    ramp_s = float(os.environ.get("AGENTTRACE_DEMO_RAMP_S", "45"))

    def tick(self) -> tuple[int, float] | None:
        """The users wanted now and how fast to get there; None ends the test."""
        elapsed = float(self.get_run_time())  # type: ignore[no-untyped-call]
        if elapsed >= self.duration_s:
            return None
        return ramp_users(self.users, self.ramp_s, elapsed), float(self.users)
