"""The report of a synthetic run whose every figure is computed by hand (see conftest.RUN_A)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from agenttrace.report.build import NoSuchRun, build_report
from agenttrace.report.model import (
    Concurrency,
    Costs,
    Distribution,
    Goodput,
    GroupStats,
    Report,
    RequestRef,
    StageStats,
)
from agenttrace.report.slo import Slo
from tests.report.conftest import T0


@pytest.fixture
def connection(run_a_db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(run_a_db), read_only=True)
    yield connection
    connection.close()


@pytest.fixture
def report(connection: duckdb.DuckDBPyConnection) -> Report:
    slos = [Slo.parse(text) for text in ("latency<2s", "latency<=2s", "ttfb<500ms")]
    return build_report(connection, latest=True, slos=slos, jaeger_ui="http://jaeger:16686/", source="test")


def approx(value: object) -> object:
    return pytest.approx(value, rel=1e-9, abs=1e-9)


def test_overview(report: Report) -> None:
    run = report.overview
    assert (report.run_id, run.run_id, run.requests, run.wall_s) == ("run-a", "run-a", 4, 6.0)
    assert run.requests_per_s == approx(4 / 6)
    assert (run.errors, run.error_rate, run.rate_limited) == (1, 0.25, 1)
    assert (run.first_ns, run.last_ns) == (T0, T0 + 6_000_000_000)


def test_concurrency(report: Report) -> None:
    concurrency = report.overview.concurrency
    assert isinstance(concurrency, Concurrency)
    assert concurrency.mean == approx(6500 / 6000)  # busy time over wall time
    assert concurrency.max == 2
    timeline = dict(concurrency.timeline)
    assert len(concurrency.timeline) == 101
    # 60 ms apart: R1 alone, R1+R2, R2+R3 (R1 ended as R3 started), R2 alone, none, R4, the end.
    expected = {0.0: 1, 0.48: 1, 0.54: 2, 0.96: 2, 1.02: 2, 1.5: 1, 2.46: 1, 2.52: 0, 2.94: 0, 3.0: 1, 6.0: 0}
    assert {t: timeline[t] for t in expected} == expected


def test_goodput(report: Report) -> None:
    assert report.goodput == [
        Goodput("latency<2s", 1, 0.25, approx(1 / 6)),
        Goodput("latency<=2s", 2, 0.5, approx(2 / 6)),
        Goodput("ttfb<500ms", 1, 0.25, approx(1 / 6)),  # R3's 50 ms TTFB was a 429: not good
    ]


def rounded(item: object) -> dict[str, object]:
    """A dataclass's fields, floats rounded to 9 places (exact figures, no float noise)."""
    return {k: round(v, 9) if isinstance(v, float) else v for k, v in vars(item).items()}


def fields(items: list[object]) -> list[dict[str, object]]:
    return [rounded(item) for item in items]


def test_scenarios_and_routes(report: Report) -> None:
    # chat [1000, 2000] ms, search [500, 3000] ms; quantile_cont interpolates between ranks.
    chat = GroupStats("chat", 2, 1500.0, 1950.0, 1990.0, 600.0, 960.0, 0, 0)
    search = GroupStats("search", 2, 1750.0, 2875.0, 2975.0, 50.0, 50.0, 1, 1)
    assert fields(report.scenarios) == fields([chat, search])
    assert fields(report.routes) == [dict(rounded(chat), name="/chat"), dict(rounded(search), name="/search")]


def test_stages(report: Report) -> None:
    # llm_call durations [100, 200, 300, 300, 1000]; per request 2, 1, 2, 0 calls and 500, 1000, 400 ms.
    llm = StageStats("llm_call", 5, 1.25, 1.5, 2, 300.0, 860.0, 972.0, 860.0, 950.0, 1900 / 6500, 162.5, 16.25, 0, 1)
    # tool durations [400, 200, 400, 2000]; per request 2, 1, 0, 1 calls and 600, 400, -, 2000 ms.
    tool = StageStats("tool", 4, 1.0, 1.0, 2, 400.0, 1760.0, 1952.0, 1760.0, 1860.0, 2800 / 6500, 0.0, 0.0, 1, 0)
    # agent 1900 ms holding llm 1000 + tool 400: self time 500.
    agent = StageStats("agent", 1, 0.25, 0.0, 1, 1900.0, 1900.0, 1900.0, 500.0, 1900.0, 500 / 6500, 0.0, 0.0, 0, 0)
    assert fields(report.stages) == fields([agent, tool, llm])
    assert report.critical_path_sampled_requests == 4


def test_costs(report: Report) -> None:
    # R1, R2 from their roll-up; R3, R4 counted from their stage spans.
    assert report.costs == Costs(
        llm_calls_per_request=Distribution(1.25, 1.5, 2.0, 2.0),
        tool_calls_per_request=Distribution(1.0, 1.0, approx(1.85), 2.0),
        input_tokens_per_request=Distribution(162.5, 175.0, 300.0, 300.0),
        output_tokens_per_request=Distribution(16.25, 17.5, 30.0, 30.0),
        model_retries=1,
        model_429s=1,
    )


def test_slowest_and_failed(report: Report) -> None:
    def ref(
        trace: int, start_ms: int, duration_ms: float, scenario: str, route: str, status: int, error: str | None
    ) -> RequestRef:
        trace_id = f"{trace:032x}"
        return RequestRef(
            trace_id,
            f"{1:016x}",
            f"POST {route}",
            scenario,
            route,
            T0 + start_ms * 1_000_000,
            duration_ms,
            status,
            error,
            f"http://jaeger:16686/trace/{trace_id}",
        )

    r4 = ref(4, 3000, 3000.0, "search", "/search", 500, "ValueError")
    assert report.slowest == [
        r4,
        ref(2, 500, 2000.0, "chat", "/chat", 200, None),
        ref(1, 0, 1000.0, "chat", "/chat", 200, None),
        ref(3, 1000, 500.0, "search", "/search", 429, None),
    ]
    assert report.failed == [r4]


def test_other_run_and_missing_run(connection: duckdb.DuckDBPyConnection) -> None:
    other = build_report(connection, "run-b")
    assert (other.run_id, other.overview.requests, other.overview.wall_s, other.stages) == ("run-b", 1, 0.1, [])
    assert other.critical_path_sampled_requests == 1
    with pytest.raises(NoSuchRun, match="^no requests of the run 'nope' in the span store$"):
        build_report(connection, "nope")


def test_empty_store(tmp_path: Path) -> None:
    from agenttrace.store import SpanStore

    SpanStore.open(tmp_path / "empty.duckdb").close()
    with duckdb.connect(str(tmp_path / "empty.duckdb"), read_only=True) as connection:
        with pytest.raises(NoSuchRun, match="^the span store is empty$"):
            build_report(connection, latest=True)
