"""``agenttrace demo``: the whole story on one machine, started and stopped as one command.

The embedded collector runs in this process; the example agent service (``examples/agent_service``, one stage
made the bottleneck) and the load tool (Locust headless or k6) run as child processes, each in a process
group of its own. A progress display polls the collector's query API while the load ramps up; at the end the
bottleneck report prints and ``report.html`` is written. ``plan`` (what to run), ``children`` (process
lifecycle), ``load`` (the load-tool command lines), ``progress`` (the live display), ``run`` (the sequence).
"""

from __future__ import annotations

from agenttrace._demo.plan import BOTTLENECKS, DemoPlan
from agenttrace._demo.run import DemoFailed, run_demo

__all__ = ["BOTTLENECKS", "DemoFailed", "DemoPlan", "run_demo"]
