"""The demo's plan: the ramp, the bottleneck knobs, its checks, finding the checkout, the load command lines."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agenttrace._demo.load import LOCUSTFILE, k6_command, locust_command
from agenttrace._demo.plan import DemoPlan, find_checkout

ROOT = Path(__file__).resolve().parents[2]


def plan(bottleneck: str = "llm", users: int = 24, duration_s: float = 60.0, out: Path = ROOT) -> DemoPlan:
    return DemoPlan(bottleneck, users, duration_s, "locust", ROOT, out)


@pytest.mark.parametrize(
    ("elapsed_s", "users"),
    [(0.0, 1), (1.0, 1), (1.8, 1), (1.9, 2), (22.5, 12), (44.9, 24), (45.0, 24), (60.0, 24), (600.0, 24)],
)
def test_users_ramp_from_one_to_the_top_then_hold(elapsed_s: float, users: int) -> None:
    assert plan().users_at(elapsed_s) == users  # 24 users over 45 s (75% of 60 s): a user more every 1.875 s


@pytest.mark.parametrize(
    ("bottleneck", "knobs"),
    [
        (
            "llm",
            {"MODEL_CAPACITY": "2", "MODEL_TTFT_S": "0.05", "MODEL_PER_TOKEN_S": "0.01", "AGENT_DB_POOL_SIZE": "28"},
        ),
        ("context_load", {"AGENT_DB_POOL_SIZE": "2", "MODEL_TTFT_S": "0.05", "MODEL_PER_TOKEN_S": "0.005"}),
        (
            "tool",
            {
                "AGENT_TOOL_CONCURRENCY": "1",
                "AGENT_TOOL_LATENCY_S": "0.15",
                "MODEL_TTFT_S": "0.05",
                "MODEL_PER_TOKEN_S": "0.002",
                "AGENT_DB_POOL_SIZE": "28",
            },
        ),
        ("none", {"AGENT_DB_POOL_SIZE": "28"}),
    ],
)
def test_each_bottleneck_sets_its_knobs(bottleneck: str, knobs: dict[str, str]) -> None:
    assert plan(bottleneck).knobs == knobs


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bottleneck": "disk"}, "unknown bottleneck 'disk': use one of llm, context_load, tool, none"),
        ({"users": 0}, "--users must be at least 1, got 0"),
        ({"duration_s": 4.5}, "--duration must be at least 5 seconds, got 4.5"),
        ({"duration_s": float("nan")}, "--duration must be at least 5 seconds, got nan"),
    ],
)
def test_a_bad_plan_is_refused_with_one_line(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        plan(**kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_the_checkout_is_the_first_candidate_with_the_example_service(tmp_path: Path) -> None:
    assert find_checkout([tmp_path, ROOT]) == ROOT
    assert find_checkout([tmp_path]) is None


def test_locust_runs_headless_on_the_bundled_ramp() -> None:
    argv, env = locust_command(plan(users=8, duration_s=20), "http://127.0.0.1:9", "demo-llm-1")
    assert argv == [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", "http://127.0.0.1:9",
        "--agenttrace-run-id", "demo-llm-1", "--exit-code-on-error", "0", "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    assert env == {
        "AGENTTRACE_DEMO_USERS": "8",
        "AGENTTRACE_DEMO_DURATION_S": "20",
        "AGENTTRACE_DEMO_RAMP_S": "15",
        "AGENT_WAIT_S": "1",
    }


def test_k6_runs_the_example_script_with_the_demo_ramp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    k6 = tmp_path / "bin" / "k6"
    k6.parent.mkdir()
    k6.write_text("#!/bin/sh\n")
    k6.chmod(0o755)
    monkeypatch.setenv("PATH", str(k6.parent))
    argv, env = k6_command(plan(users=8, duration_s=20), "http://127.0.0.1:9", "demo-llm-1", tmp_path)
    script = tmp_path / "agent-test.js"
    assert argv == [
        str(k6), "run", "--no-thresholds", "--quiet", "--no-color", "--stage", "15s:8", "--stage", "5s:8", str(script)
    ]  # fmt: skip
    assert script.read_text() == (ROOT / "examples" / "k6" / "agent-test.js").read_text()
    assert (tmp_path / "agenttrace.js").is_file()
    assert env == {
        "BASE_URL": "http://127.0.0.1:9",
        "AGENTTRACE_RUN_ID": "demo-llm-1",
        "THINK_S": "0.5",
        "SUMMARY_JSON": str(tmp_path / "k6-summary.json"),
        "K6_NO_USAGE_REPORT": "true",
    }
