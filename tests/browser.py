"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against daphne
and a worker pool on a topic and database of the test's own. Fixtures and helpers shared
by the browser tests."""

from __future__ import annotations

import time
import urllib.request

import pytest
from playwright.sync_api import expect, sync_playwright

from harness.browser import launch
from tests.conftest import BUNDLED_SYMBOLS, free_port
from tests.pipeline import Pipeline

SYMBOLS = BUNDLED_SYMBOLS[:300]
MEMORY_PAGES = 'trademonitor_drilldown_first_pages_total{source="memory"}'


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def site(services, symbol_db):
    """(pipeline, base URL): workers and daphne on a topic and database of the test's own."""
    pipeline = Pipeline(symbol_db)
    pipeline.start_pool(1, "--job", "ingest", "--job", "sentiment")
    port = free_port()
    pipeline.web_port = port
    pipeline.start_web(port)
    yield pipeline, f"http://127.0.0.1:{port}"
    pipeline.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == []


def open_dashboard(page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#connection")).to_have_text("live", timeout=15_000)
    expect(page.locator("#symbols tbody tr.symbol-row").first).to_be_visible()


def row(page, symbol: str):
    return page.locator(f'#symbols tbody tr.symbol-row[data-symbol="{symbol}"]')


def search(page, text: str) -> None:
    page.fill("#search", text)


def first_pages_from_memory(url: str) -> float:
    """How many first pages daphne at `url` has served from the pages it keeps."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        lines = response.read().decode().splitlines()
    return next((float(line.split()[-1]) for line in lines if line.startswith(MEMORY_PAGES + " ")), 0.0)


def wait_until_kept(url: str, symbol: str, timeout: float = 60.0) -> None:
    """Until daphne keeps `symbol`'s first page: it reads every listed symbol's within seconds
    of a dashboard connecting (trademonitor.live.NewestTrades), and then serves it from memory."""
    deadline = time.monotonic() + timeout
    while True:
        served = first_pages_from_memory(url)
        with urllib.request.urlopen(f"{url}/api/symbols/{symbol}/trades?limit=1", timeout=10) as response:
            response.read()
        if first_pages_from_memory(url) > served:
            return
        assert time.monotonic() < deadline, f"{symbol}'s first page is not kept"
        time.sleep(0.2)
