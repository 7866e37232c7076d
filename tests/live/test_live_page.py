"""The live page in a real headless Chromium (Debian's, driven by Playwright) during a real load run.

A real collector receives real OTLP export from an instrumented service under bounded bursts of load; the
page must show the run's stage rows and plots, update them when more spans arrive, and open a trace's
waterfall. With ``AGENTTRACE_SCREENSHOTS=1`` the test also writes the README's screenshots to docs/images/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agenttrace.collector import Collector, CollectorConfig
from tests.live.app import LoadRun

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"

sync_api = pytest.importorskip("playwright.sync_api", reason="the dev extra installs playwright")
if not shutil.which(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing: `make browser` installs it", allow_module_level=True)


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    started = Collector(CollectorConfig(db=tmp_path / "spans.duckdb", http="127.0.0.1:0", grpc=None, token="s3cret"))
    started.start()
    try:
        yield started
    finally:
        started.stop()


def _watch_network(page: Any, base: str) -> list[str]:
    """Every URL the page asks for that is not the collector's (there must be none)."""
    foreign: list[str] = []
    page.on("request", lambda request: None if request.url.startswith(base) else foreign.append(request.url))
    return foreign


def test_live_page_follows_a_run_and_opens_a_waterfall(browser: Any, collector: Collector) -> None:
    base = collector.api_url
    assert base is not None
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    foreign = _watch_network(page, base)
    run = LoadRun(base, "live-run", token="s3cret")
    with run.serving():
        assert run.burst(42, concurrency=6).count(500) == 6

        page.goto(f"{base}/ui/#token=s3cret", timeout=TIMEOUT_MS)
        page.wait_for_selector("body[data-requests='42']", timeout=TIMEOUT_MS)
        stages = page.locator("#stages tbody tr")
        assert sorted(stages.evaluate_all("rows => rows.map(r => r.dataset.stage)")) == [
            "context_load",
            "llm_call",
            "tool_execution",
        ]
        llm = page.locator("#stages tbody tr[data-stage='llm_call'] td")
        assert llm.nth(1).inner_text() == "78"  # two model calls per request, one in the six failed ones
        for plot in ("plot-latency", "plot-throughput", "plot-saturation"):
            page.wait_for_selector(f"#{plot} .main-svg", timeout=TIMEOUT_MS)
        assert page.locator("#runs tbody tr.current a").inner_text() == "live-run"
        assert page.locator("#failed tbody tr.request").count() == 6
        latency_updates = int(page.locator("#plot-latency").get_attribute("data-updates") or 0)
        points = page.evaluate("() => document.getElementById('plot-throughput').data[0].y.reduce((a, b) => a + b, 0)")

        # More spans arrive: the page follows without a reload.
        assert run.burst(42, concurrency=12).count(500) == 6
        page.wait_for_selector("body[data-requests='84']", timeout=TIMEOUT_MS)
        assert llm.nth(1).inner_text() == "156"
        assert int(page.locator("#plot-latency").get_attribute("data-updates") or 0) > latency_updates
        step = page.evaluate("() => document.getElementById('plot-throughput').data[0]")
        assert step["y"] and sum(step["y"]) > points
        assert page.locator("#status").get_attribute("data-state") in ("ok", "updating")
        if os.environ.get("AGENTTRACE_SCREENSHOTS"):  # a longer ramp, so the plots have something to show
            for concurrency in (2, 4, 8, 12, 16, 24):
                run.burst(70, concurrency)
            page.wait_for_selector(f"body[data-requests='{run.requests}']", timeout=TIMEOUT_MS)
            IMAGES.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(IMAGES / "live-page.png"), full_page=True)

        # The slowest request opens its trace as a waterfall, with every span and the clicked span's attributes.
        slowest = page.locator("#slowest tbody tr.request").first
        trace_id = slowest.get_attribute("data-trace-id")
        slowest.click()
        page.wait_for_selector("#waterfall[open] .wf-row", timeout=TIMEOUT_MS)
        trace = httpx.get(f"{base}/api/v1/traces/{trace_id}", headers={"Authorization": "Bearer s3cret"}).json()
        rows = page.locator("#wf-spans .wf-row")
        assert rows.count() == len(trace["spans"]) == 5  # the request, context, two model calls, the tool
        assert rows.first.locator(".wf-label").inner_text() == "POST /ask"
        assert rows.nth(1).locator(".wf-label").inner_text() == "context_load"
        rows.nth(2).click()
        page.wait_for_selector("#wf-detail th:text-is('agenttrace.stage')", timeout=TIMEOUT_MS)
        detail = page.locator("#wf-detail tr").evaluate_all(
            "rows => Object.fromEntries(rows.map(r => [r.cells[0].innerText, r.cells[1].innerText]))"
        )
        assert detail["agenttrace.stage"] == "llm_call"
        assert detail["gen_ai.request.model"] == "gpt-4o-mini"
        assert detail["gen_ai.usage.input_tokens"] == "300"
        if os.environ.get("AGENTTRACE_SCREENSHOTS"):
            page.locator("#waterfall").screenshot(path=str(IMAGES / "waterfall.png"))
    assert errors == []
    assert foreign == []
