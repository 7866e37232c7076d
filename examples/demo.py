"""The whole pipeline on one machine: load -> agent service -> OTLP -> agenttrace collector -> DuckDB.

``make demo`` runs this. On free 127.0.0.1 ports it starts a local fake LLM provider, the embedded
collector, and the instrumented FastAPI agent service (examples/service.py) under uvicorn; configures
agenttrace to export to the collector; sends a batch of concurrent requests the way a load tool does (W3C
``traceparent`` and ``baggage`` carrying the run id, scenario and virtual user); prints one response's
``Server-Timing``; then reads the run back from the store: the runs table, per-stage figures, and the span
tree of one request. A queue worker with ``agenttrace.request`` handles a few tickets too.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from pathlib import Path

import httpx
import openai
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

import agenttrace
from agenttrace.collector import Collector, CollectorConfig
from agenttrace.store import SpanStore
from examples import fake_llm
from examples.agent import handle_ticket
from examples.service import create_app
from examples.serving import serve

RUN_ID = "demo-run"
TICKETS = 24
VIRTUAL_USERS = 4
WORKER_TICKETS = 3


async def load(service_url: str, console: Console) -> None:
    """What a load tool does: concurrent virtual users, each request joined to the run by its headers."""

    async def user(vu: int, client: httpx.AsyncClient) -> None:
        for i in range(vu, TICKETS, VIRTUAL_USERS):
            headers = {
                "traceparent": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01",
                "baggage": f"agenttrace.run_id={RUN_ID},agenttrace.scenario=ticket,agenttrace.user=vu-{vu}",
            }
            response = await client.post(f"{service_url}/tickets/session-{i}", headers=headers)
            response.raise_for_status()
            if i == 0:
                console.print(f"Server-Timing: {response.headers['server-timing']}")

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(user(vu, client) for vu in range(VIRTUAL_USERS)))


async def queue_worker(llm_url: str) -> None:
    """A non-HTTP entry point: the same agent code under agenttrace.request."""
    client = openai.AsyncOpenAI(base_url=f"{llm_url}/v1", api_key="demo", max_retries=0)
    for i in range(WORKER_TICKETS):
        async with agenttrace.request("process_ticket", run_id=RUN_ID, scenario="queue", user="worker"):
            await handle_ticket(client, f"queued-{i}")
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
            per_request = calls / (TICKETS + WORKER_TICKETS)
            tokens = f"{tokens_in}/{tokens_out}"
            stages.add_row(stage, str(calls), f"{per_request:.1f}", f"{p50:.1f}", f"{p95:.1f}", tokens)
        console.print(stages)

        [(trace_id,)] = store.query(f"SELECT min(trace_id) FROM spans WHERE run_id = '{RUN_ID}' AND kind = 'SERVER'")
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
            os.environ["OTEL_METRICS_EXPORTER"] = "none"
            handle = agenttrace.configure(
                service_name="support-agent", endpoint=f"http://127.0.0.1:{collector.http_port}"
            )
            with serve(create_app(f"{llm_url}/v1")) as service_url:
                console.print(
                    f"fake LLM {llm_url}, agent service {service_url}, collector http://127.0.0.1:{collector.http_port}"
                )
                asyncio.run(load(service_url, console))
                asyncio.run(queue_worker(llm_url))
            handle.shutdown()
            dropped = sum(handle.dropped_spans.values())
            answered = f"{TICKETS} HTTP requests and {WORKER_TICKETS} queued tickets answered"
            console.print(f"{answered}; spans dropped: {dropped}")
        show(db, console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
