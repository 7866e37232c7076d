"""``agenttrace report --jaeger/--otlp-json/--clickhouse``: the run's spans from outside the embedded store."""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import time
from typing import TYPE_CHECKING, Any

from agenttrace._cli.common import CliError, need

if TYPE_CHECKING:
    from agenttrace.report.model import Report

REPORT_EXTRA = "pip install 'agenttrace[report]'"
CLICKHOUSE_EXTRA = "pip install 'agenttrace[report,clickhouse]'"
DEFAULT_JAEGER_SINCE = "1h"
_AGO = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def external(args: argparse.Namespace) -> bool:
    """Whether the command reads another source than the embedded store."""
    return bool(getattr(args, "jaeger", None) or getattr(args, "otlp_json", None) or getattr(args, "clickhouse", None))


def parse_time(text: str, now_ns: int, option: str) -> int:
    """``--since``/``--until``: RFC 3339 (``2025-05-01T10:00:00Z``) or a time ago (``90m``), as ns since the epoch."""
    ago = _AGO.match(text.strip())
    if ago:
        return now_ns - round(float(ago.group(1)) * _UNIT_S[ago.group(2)] * 1e9)
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CliError(
            f"{option} {text!r}: expected RFC 3339 (2025-05-01T10:00:00Z) or a time ago (90m, 2h, 1d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return round(moment.timestamp() * 1e6) * 1000


def external_report(args: argparse.Namespace, slos: list[Any]) -> Report:
    """The report of ``--run`` (else the latest run) read from ``--jaeger``, ``--otlp-json`` or ``--clickhouse``."""
    need("duckdb", REPORT_EXTRA)
    if args.collector:
        raise CliError("--collector reads the embedded store: not with --jaeger, --otlp-json or --clickhouse")
    sources = need("agenttrace.report.sources", REPORT_EXTRA)
    build = need("agenttrace.report.build", REPORT_EXTRA)
    now_ns = time.time_ns()
    until = parse_time(args.until, now_ns, "--until") if args.until else now_ns
    try:
        loaded, run_id, latest = _load(args, sources, now_ns, until)
    except sources.SourceError as exc:
        raise CliError(str(exc)) from None
    try:
        if loaded.rejected:
            reasons = "; ".join(loaded.reasons[:3])
            print(f"agenttrace: warning: {loaded.rejected} spans left out: {reasons}", file=sys.stderr)
        report: Report = sources.source_report(loaded, run_id, latest=latest, slos=slos, jaeger_ui=args.jaeger_ui)
        return report
    except build.NoSuchRun as exc:
        raise CliError(f"{exc} ({loaded.source})") from None
    finally:
        loaded.close()


def _load(args: argparse.Namespace, sources: Any, now_ns: int, until: int) -> tuple[Any, str | None, bool]:
    """(spans loaded, run id, whether to report the latest run)."""
    if args.otlp_json:
        return sources.load_otlp_json(args.otlp_json), args.run_id, args.run_id is None
    since = args.since or (DEFAULT_JAEGER_SINCE if args.jaeger else None)
    start = parse_time(since, now_ns, "--since") if since else None
    if args.jaeger:
        if not args.service:
            raise CliError("--jaeger needs --service NAME: Jaeger searches one service's traces")
        query = sources.JaegerQuery(args.jaeger, args.service, start or 0, until, run_id=args.run_id)
        return sources.load_jaeger(query), args.run_id, args.run_id is None
    need("clickhouse_connect", CLICKHOUSE_EXTRA)
    need("pyarrow", CLICKHOUSE_EXTRA)
    from agenttrace.report.sources import clickhouse

    _, database, table = clickhouse.parse_url(args.clickhouse)
    if start is None and args.until:
        start = 0  # only an end: everything before it
    spec = clickhouse.ClickHouseQuery(
        database,
        table,
        run_id=args.run_id,
        latest=args.run_id is None,
        start_ns=start,
        end_ns=until if start is not None else None,
    )
    loaded, run_id = clickhouse.load_clickhouse(
        clickhouse.connect(args.clickhouse), spec, clickhouse.safe_url(args.clickhouse)
    )
    return loaded, run_id, False
