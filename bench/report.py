"""How long ``agenttrace report`` takes on a big run, next to plain scans of the same table.

Run: ``.venv/bin/python bench/report.py`` (``--requests N`` for the big store; default 100,000 requests =
1,000,000 spans). Builds span stores straight in DuckDB (``INSERT ... SELECT`` from ``range()`` into the store's
schema: 10 spans per request: the SERVER span, an ``agent`` stage holding 4 sequential ``llm_call`` stages and
3 parallel ``tool`` stages, and a ``retrieve`` stage), then times, each in a fresh process (peak RSS is that
process's): the full report (every analysis, the JSON form) and three scans of the same table. ``scan`` is the
plain scan the target is set against: ``SELECT * FROM spans`` for the run, every row and column read out of
DuckDB into the process (as an Arrow table, the cheapest form a client can hold rows in). Two stricter floors
run inside DuckDB and return one row: ``group``, one pass that reads every column the report reads and groups
them by trace, and ``count``, ``count(*)`` and the sum of one column. The same for a store 10x smaller, for the scaling
ratio. Prints wall seconds, CPU seconds (user + system, all threads: steadier than wall on a shared machine),
ratios and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPANS_PER_REQUEST = 10
T0 = 1_700_000_000_000_000_000
MS = 1_000_000

# k: (stage, parent k, start offset ms, end offset ms) inside a request of duration D ms starting at S.
_LAYOUT = """
CASE k WHEN 0 THEN NULL WHEN 1 THEN 'agent' WHEN 9 THEN 'retrieve' WHEN 6 THEN 'tool' WHEN 7 THEN 'tool'
    WHEN 8 THEN 'tool' ELSE 'llm_call' END
"""


def build(db: Path, requests: int) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    import duckdb

    from agenttrace.store import SpanStore

    SpanStore.open(db).close()  # the real schema
    ttfb = b"\x0a\x26agenttrace.response.time_to_first_byte\x12\x09\x21" + struct.pack("<d", 0.25)
    with duckdb.connect(str(db)) as connection:
        connection.execute(
            f"""
            INSERT INTO spans (trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, duration_ns,
                status_code, stage, run_id, scenario, http_route, http_status_code, input_tokens, output_tokens,
                gen_ai_operation, llm_calls, tool_calls, otlp_rest)
            WITH req AS (
                SELECT r, {T0} + r * 10 * {MS} AS s, (1000 + (r * 7919) % 1000) * {MS} AS d FROM range({requests}) t(r)
            ), spans AS (
                SELECT r, k, s, d, {_LAYOUT} AS stage,
                    CASE WHEN k = 0 THEN s WHEN k = 1 THEN s + d // 20 WHEN k BETWEEN 2 AND 5 THEN s + d // 10 * (k - 1)
                        WHEN k BETWEEN 6 AND 8 THEN s + d // 2 ELSE s + d // 20 END AS a,
                    CASE WHEN k = 0 THEN s + d WHEN k = 1 THEN s + d - d // 20
                        WHEN k BETWEEN 2 AND 5 THEN s + d // 10 * k
                        WHEN k BETWEEN 6 AND 8 THEN s + d // 2 + d // 10 * (k - 5) ELSE s + d // 10 END AS b
                FROM req CROSS JOIN range({SPANS_PER_REQUEST}) u(k)
            )
            SELECT lpad(printf('%x', r), 32, '0'), lpad(printf('%x', r * 16 + k + 1), 16, '0'),
                CASE WHEN k = 0 THEN NULL WHEN k IN (1, 9) THEN lpad(printf('%x', r * 16 + 1), 16, '0')
                    ELSE lpad(printf('%x', r * 16 + 2), 16, '0') END,
                coalesce(stage, 'POST /chat'), CASE WHEN k = 0 THEN 'SERVER' ELSE 'INTERNAL' END, a, b, b - a,
                CASE WHEN r % 50 = 0 AND k = 0 THEN 'ERROR' ELSE 'UNSET' END, stage, 'bench',
                CASE WHEN r % 3 = 0 THEN 'search' ELSE 'chat' END, CASE WHEN k = 0 THEN '/chat' END,
                CASE WHEN k > 0 THEN NULL WHEN r % 50 = 0 THEN 500 WHEN r % 40 = 0 THEN 429 ELSE 200 END,
                CASE WHEN stage = 'llm_call' THEN 500 + r % 100 END, CASE WHEN stage = 'llm_call' THEN 50 END,
                CASE WHEN stage = 'llm_call' THEN 'chat' WHEN stage = 'tool' THEN 'execute_tool' END,
                CASE WHEN k = 0 THEN 4 END, CASE WHEN k = 0 THEN 3 END, CASE WHEN k = 0 THEN ?::BLOB END
            FROM spans
            """,
            [ttfb],
        )


# The columns the report reads (ids, times, kind, status, stage, HTTP, tokens, roll-ups, TTFB's blob), per trace.
GROUP_SCAN = """
SELECT count(*), sum(spans) FROM (
    SELECT trace_id, count(*) AS spans, max(span_id), max(parent_span_id), min(start_ns), max(end_ns),
        sum(duration_ns), max(kind), max(status_code), count(stage), max(stage), max(scenario), max(http_route),
        max(http_status_code), sum(input_tokens), sum(output_tokens), max(gen_ai_operation), max(llm_calls),
        max(tool_calls), max(error_type), max(octet_length(otlp_rest))
    FROM spans WHERE run_id = 'bench' GROUP BY trace_id
)
"""


def measure(db: Path, what: str) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from agenttrace.report.api import store_report
    from agenttrace.report.render_json import to_json
    from agenttrace.store import SpanStore

    if what == "scan":
        import pyarrow  # noqa: F401 - loaded before the clock starts: the scan is timed, not the import

    with SpanStore.open(db, read_only=True) as store:
        cpu = _cpu_seconds()
        start = time.perf_counter()
        if what == "report":
            figure = len(json.dumps(to_json(store_report(store, None, slos=["latency<1500ms"]))))
        elif what == "count":
            figure = store.query("SELECT count(*), sum(duration_ns) FROM spans")[0][0]
        elif what == "scan":
            figure = _plain_scan(store)
        else:
            figure = store.query(GROUP_SCAN)[0][0]
        seconds = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cpu_s": cpu, "rss_mb": rss_mb, "figure": figure}))


def _plain_scan(store: Any) -> int:
    """Every row and column of the run's spans read out of DuckDB (into an Arrow table); the row count."""
    cursor = store.cursor()
    try:
        rows: int = cursor.sql("SELECT * FROM spans WHERE run_id = 'bench'").to_arrow_table().num_rows
    finally:
        cursor.close()
    return rows


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _run(*args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--phase", choices=["build", "report", "scan", "count", "group"], help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "build":
        build(args.db, args.requests)
        print("{}")
        return
    if args.phase is not None:
        measure(args.db, args.phase)
        return
    with tempfile.TemporaryDirectory() as tmp:
        reports: dict[int, dict[str, float]] = {}
        for requests in (args.requests // 10, args.requests):
            db = Path(tmp) / f"bench-{requests}.duckdb"
            start = time.perf_counter()
            _run("--phase", "build", "--db", str(db), "--requests", str(requests))
            built = time.perf_counter() - start
            plain = _run("--phase", "scan", "--db", str(db))
            count = _run("--phase", "count", "--db", str(db))
            group = _run("--phase", "group", "--db", str(db))
            report = _run("--phase", "report", "--db", str(db))
            reports[requests] = report
            print(
                f"{requests * SPANS_PER_REQUEST:>10,} spans ({requests:,} requests; store built in {built:.1f} s): "
                f"report {report['seconds']:.2f} s ({report['cpu_s']:.2f} CPU-s, peak RSS {report['rss_mb']:.0f} MB)"
            )
            for name, scan in (("plain scan", plain), ("group-by-trace scan", group), ("count scan", count)):
                print(
                    f"{'':>12}{name} {scan['seconds'] * 1000:.0f} ms ({scan['cpu_s'] * 1000:.0f} CPU-ms): "
                    f"report / scan = {report['seconds'] / scan['seconds']:.0f}x"
                    f" ({report['cpu_s'] / max(scan['cpu_s'], 1e-3):.0f}x in CPU)"
                )
        small, big = reports[args.requests // 10], reports[args.requests]
        print(
            f"10x the spans: {big['seconds'] / small['seconds']:.1f}x the report time"
            f" ({big['cpu_s'] / small['cpu_s']:.1f}x the CPU time)"
        )


if __name__ == "__main__":
    main()
