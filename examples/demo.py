"""The whole pipeline on one machine: agent -> OTLP -> agenttrace collector -> DuckDB -> a span tree.

``make demo`` runs this. It starts a local fake LLM provider and the embedded collector on free 127.0.0.1
ports, configures agenttrace to export to it, answers a batch of tickets concurrently, then reads the run
back from the store: the runs table, per-stage figures, and the span tree of one request.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import openai
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

import agenttrace
from agenttrace.collector import Collector, CollectorConfig, SpanStore
from examples import fake_llm
from examples.agent import handle_ticket
from examples.serving import serve

RUN_ID = "demo-run"
TICKETS = 20


async def load(llm_url: str) -> None:
    client = openai.AsyncOpenAI(base_url=f"{llm_url}/v1", api_key="demo", max_retries=0)

    async def one(i: int) -> None:
        async with agenttrace.request("handle_ticket", run_id=RUN_ID, scenario="support", user=f"vu-{i % 4}"):
            await handle_ticket(client, f"session-{i}")

    await asyncio.gather(*(one(i) for i in range(TICKETS)))
    await client.close()


def show(db: Path, console: Console) -> None:
    with SpanStore.open(db) as store:
        runs = Table(title="agenttrace runs")
        for column in ("run id", "requests", "spans"):
            runs.add_column(column)
        for run in store.list_runs():
            runs.add_row(str(run.run_id), str(run.requests), str(run.spans))
        console.print(runs)

        stages = Table(title=f"stages of {RUN_ID}")
        for column in ("stage", "calls", "calls/request", "p50 ms", "p95 ms", "tokens in/out"):
            stages.add_column(column)
        rows = store.query(
            "SELECT stage, count(*), quantile_cont(duration_ns / 1e6, 0.5), quantile_cont(duration_ns / 1e6, 0.95),"
            " coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0)"
            f" FROM spans WHERE run_id = '{RUN_ID}' AND stage IS NOT NULL GROUP BY stage ORDER BY stage"
        )
        for stage, calls, p50, p95, tokens_in, tokens_out in rows:
            stages.add_row(
                stage, str(calls), f"{calls / TICKETS:.1f}", f"{p50:.1f}", f"{p95:.1f}", f"{tokens_in}/{tokens_out}"
            )
        console.print(stages)

        [(trace_id,)] = store.query(f"SELECT min(trace_id) FROM spans WHERE run_id = '{RUN_ID}'")
        spans = store.query(
            "SELECT span_id, parent_span_id, name, kind, duration_ns, input_tokens, output_tokens FROM spans"
            f" WHERE trace_id = '{trace_id}' ORDER BY start_ns"
        )
    nodes: dict[str, Tree] = {}
    root = Tree(f"trace {trace_id}")
    for span_id, parent, name, kind, duration_ns, tokens_in, tokens_out in spans:
        tokens = f"  tokens {tokens_in}/{tokens_out}" if tokens_in is not None else ""
        label = f"[bold]{name}[/bold] {kind.lower()} {duration_ns / 1e6:.1f} ms{tokens}"
        nodes[span_id] = nodes.get(parent, root).add(label)
    console.print(root)


def main() -> int:
    console = Console()
    with tempfile.TemporaryDirectory(prefix="agenttrace-demo-") as tmp:
        db = Path(tmp) / "demo.duckdb"
        config = CollectorConfig(db=db, http="127.0.0.1:0", grpc=None)
        with serve(fake_llm.create_app(latency_s=0.02, chunk_delay_s=0.002)) as llm_url, Collector(config) as collector:
            console.print(f"collector on http://127.0.0.1:{collector.http_port}, fake LLM on {llm_url}")
            os.environ["OTEL_METRICS_EXPORTER"] = "none"
            handle = agenttrace.configure(
                service_name="support-agent", endpoint=f"http://127.0.0.1:{collector.http_port}"
            )
            asyncio.run(load(llm_url))
            handle.shutdown()
            console.print(f"{TICKETS} tickets answered; spans dropped: {sum(handle.dropped_spans.values())}")
        show(db, console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
