"""Render :class:`RunStats`: the end-of-run table, the CSV files, the web UI rows and the trace list."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from agenttrace._loadrun.stats import TOTAL_ROW, RunStats, StageStats, TracedRequest

STAGE_COLUMNS = ("Stage", "Requests", "Calls", "Calls/request", "Average (ms)", "p50 (ms)", "p95 (ms)", "p99 (ms)")
COST_COLUMNS = (
    "Requests",
    "LLM calls",
    "Tool calls",
    "Input tokens",
    "Output tokens",
    "LLM calls/request",
    "Tool calls/request",
    "Input tokens/request",
    "Output tokens/request",
)


def _per(n: float, requests: int) -> float:
    return n / requests if requests else 0.0


def stage_rows(stats: RunStats) -> list[tuple[str, int, int, float, float, float, float, float]]:
    """One row per stage (in first-seen order), then the server's total, as in :data:`STAGE_COLUMNS`."""
    items: list[tuple[str, StageStats]] = list(stats.stages.items())
    if stats.total.requests:
        items.append((TOTAL_ROW, stats.total))
    return [
        (
            name,
            stage.requests,
            stage.calls,
            _per(stage.calls, stats.requests),
            _per(stage.sum_ms, stage.requests),
            stage.percentile(0.5),
            stage.percentile(0.95),
            stage.percentile(0.99),
        )
        for name, stage in items
    ]


def cost_row(stats: RunStats) -> tuple[int, int, int, int, int, float, float, float, float]:
    """The run's agent costs, in total and per request, as in :data:`COST_COLUMNS`."""
    n = stats.requests
    counts = (stats.llm_calls, stats.tool_calls, stats.input_tokens, stats.output_tokens)
    return (n, *counts, *(_per(c, n) for c in counts))  # type: ignore[return-value]


def table(stats: RunStats) -> str:
    """The end-of-run text: the per-stage table and the per-request agent costs."""
    rows = stage_rows(stats)
    width = max([len(STAGE_COLUMNS[0]), *(len(r[0]) for r in rows)])
    head = f"{'Stage':<{width}} {'Requests':>9} {'Calls':>9} {'Calls/req':>10} {'Avg ms':>9} "
    head += f"{'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9}"
    lines = [f"agenttrace stages ({stats.requests} requests with Server-Timing)", head, "-" * len(head)]
    for name, requests, calls, per, avg, p50, p95, p99 in rows:
        lines.append(
            f"{name:<{width}} {requests:>9} {calls:>9} {per:>10.2f} {avg:>9.1f} {p50:>9.1f} {p95:>9.1f} {p99:>9.1f}"
        )
    _, llm, tool, tokens_in, tokens_out, *per_request = cost_row(stats)
    lines.append("-" * len(head))
    lines.append(
        "per request: LLM calls {:.2f}, tool calls {:.2f}, input tokens {:.1f}, output tokens {:.1f}".format(
            *per_request
        )
    )
    lines.append(f"in total: LLM calls {llm}, tool calls {tool}, input tokens {tokens_in}, output tokens {tokens_out}")
    return "\n".join(lines)


def trace_link(trace_id: str, jaeger_url: str | None) -> str:
    """A Jaeger UI link for a trace id when a Jaeger URL is given, else the bare id."""
    if not jaeger_url or not trace_id:
        return trace_id or "-"
    return f"{jaeger_url.rstrip('/')}/trace/{trace_id}"


def traces(stats: RunStats, jaeger_url: str | None) -> str:
    """The kept trace ids: failed requests first, then the slowest, slowest first."""
    lines: list[str] = []

    def line(t: TracedRequest) -> str:
        suffix = f"  {t.error}" if t.error else ""
        return f"  {t.response_time_ms:>9.0f} ms  {t.name}  {trace_link(t.trace_id, jaeger_url)}{suffix}"

    if stats.failed:
        lines.append(f"agenttrace failed requests ({stats.failures}, first {len(stats.failed)} shown):")
        lines.extend(line(t) for t in stats.failed)
    if stats.slowest:
        lines.append("agenttrace slowest requests:")
        lines.extend(line(t) for t in sorted(stats.slowest, reverse=True))
    return "\n".join(lines)


def write_csv(stats: RunStats, prefix: str) -> list[Path]:
    """Write ``<prefix>_agenttrace_stages.csv`` and ``<prefix>_agenttrace_costs.csv`` beside Locust's CSVs."""
    stages_path = Path(f"{prefix}_agenttrace_stages.csv")
    costs_path = Path(f"{prefix}_agenttrace_costs.csv")
    stages_path.parent.mkdir(parents=True, exist_ok=True)
    with stages_path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(STAGE_COLUMNS)
        for name, requests, calls, per, avg, p50, p95, p99 in stage_rows(stats):
            writer.writerow([name, requests, calls, f"{per:.4f}", f"{avg:.1f}", f"{p50:g}", f"{p95:g}", f"{p99:g}"])
    with costs_path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COST_COLUMNS)
        n, *counts = cost_row(stats)
        writer.writerow([n, *counts[:4], *(f"{v:.4f}" for v in counts[4:])])
    return [stages_path, costs_path]


def web_rows(stats: RunStats) -> list[dict[str, Any]]:
    """The rows of the web UI's agenttrace tab (keys as in :data:`WEB_TABLE`)."""
    rows: list[dict[str, Any]] = [
        {
            "name": name,
            "requests": requests,
            "calls_per_request": round(per, 2),
            "avg_ms": round(avg, 1),
            "p50_ms": p50,
            "p95_ms": p95,
            "p99_ms": p99,
        }
        for name, requests, _, per, avg, p50, p95, p99 in stage_rows(stats)
    ]
    n, llm, tool, tokens_in, tokens_out, *_ = cost_row(stats)
    for label, value in (
        ("LLM calls", llm),
        ("tool calls", tool),
        ("input tokens", tokens_in),
        ("output tokens", tokens_out),
    ):
        rows.append({"name": f"{label}/request", "requests": n, "calls_per_request": round(_per(value, n), 2)})
    return rows


WEB_TABLE = [
    {"key": "name", "title": "Stage"},
    {"key": "requests", "title": "Requests"},
    {"key": "calls_per_request", "title": "Calls/request"},
    {"key": "avg_ms", "title": "Avg (ms)"},
    {"key": "p50_ms", "title": "p50 (ms)"},
    {"key": "p95_ms", "title": "p95 (ms)"},
    {"key": "p99_ms", "title": "p99 (ms)"},
]
