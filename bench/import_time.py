"""What ``import agenttrace`` costs a process, next to the OpenTelemetry API and SDK imports it stands on.

Run: ``.venv/bin/python bench/import_time.py`` (``--runs`` to change the sample; ``--src DIR`` to time
another checkout's ``src/``, e.g. an older commit in a ``git worktree``, side by side with this one).

Each variant is a fresh ``python -c "import ..."``, interleaved run by run so machine noise hits all alike;
the figure is the median wall time minus the median of an empty interpreter (``-c pass``). Also printed:
whether ``import agenttrace`` loaded ``opentelemetry.sdk`` (it must not: the SDK loads in ``configure()``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _once(code: str, src: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--src", type=Path, action="append", help="another src/ to time (repeatable)")
    args = parser.parse_args()
    sources = {"this checkout": ROOT / "src"}
    for other in args.src or ():
        sources[str(other)] = other
    variants: dict[str, tuple[str, Path]] = {
        "python -c pass": ("pass", ROOT / "src"),
        "import opentelemetry.trace (API)": ("import opentelemetry.trace, opentelemetry.metrics", ROOT / "src"),
        "import opentelemetry.sdk.trace (SDK)": (
            "import opentelemetry.sdk.trace, opentelemetry.sdk.metrics",
            ROOT / "src",
        ),
    }
    for label, src in sources.items():
        variants[f"import agenttrace [{label}]"] = ("import agenttrace", src)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.runs):
        for name, (code, src) in variants.items():
            times[name].append(_once(code, src))
    base = statistics.median(times["python -c pass"])
    api = statistics.median(times["import opentelemetry.trace (API)"]) - base
    print(f"{'variant':48} {'ms':>8} {'x API':>7}")
    for name, samples in times.items():
        cost = statistics.median(samples) - (0 if name == "python -c pass" else base)
        ratio = f"{cost / api:7.2f}" if name != "python -c pass" else ""
        print(f"{name:48} {cost * 1000:8.1f} {ratio}")
    probe = "import sys, agenttrace; print(any(m.startswith('opentelemetry.sdk') for m in sys.modules))"
    for label, src in sources.items():
        loaded = subprocess.run(
            [sys.executable, "-c", probe], env={**os.environ, "PYTHONPATH": str(src)}, capture_output=True, text=True
        ).stdout.strip()
        print(f"import agenttrace [{label}] loads opentelemetry.sdk: {loaded}")


if __name__ == "__main__":
    main()
