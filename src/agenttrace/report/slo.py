"""Service-level objectives for goodput: ``latency<2s``, ``ttfb<500ms``."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The request figures an SLO can bound, and their ``run_requests`` column.
SLO_METRICS = {"latency": "duration_ns", "ttfb": "ttfb_ns"}
_UNITS_NS = {"ms": 1_000_000, "s": 1_000_000_000}
_PATTERN = re.compile(r"^\s*(?P<metric>[a-z]+)\s*(?P<op><=|<)\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|s)\s*$")


@dataclass(frozen=True)
class Slo:
    """``metric op threshold``: a request meets it when it succeeded and its figure is under the threshold."""

    text: str
    metric: str
    inclusive: bool
    threshold_ns: int

    @classmethod
    def parse(cls, text: str) -> Slo:
        """Parse ``latency<2s`` / ``ttfb<=500ms``.

        Raises:
            ValueError: Not of that form (the message says what is accepted).
        """
        match = _PATTERN.match(text.lower())
        if match is None or match["metric"] not in SLO_METRICS:
            raise ValueError(
                f"bad SLO {text!r}: expected METRIC<VALUE with METRIC one of {', '.join(SLO_METRICS)} "
                "and VALUE in ms or s, e.g. latency<2s or ttfb<=500ms"
            )
        threshold = round(float(match["value"]) * _UNITS_NS[match["unit"]])
        canonical = f"{match['metric']}{match['op']}{match['value']}{match['unit']}"
        return cls(canonical, match["metric"], match["op"] == "<=", threshold)

    def sql(self) -> str:
        """The SQL condition on ``run_requests`` a request meets."""
        op = "<=" if self.inclusive else "<"
        return f"(NOT failed AND NOT rate_limited AND {SLO_METRICS[self.metric]} {op} {self.threshold_ns})"
