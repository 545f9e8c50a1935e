"""`manage.py screenshots`: run the system and save the dashboard and a drill-down as PNGs, light and dark."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from harness.browser import SHOWN_TRADES, launch

if TYPE_CHECKING:  # Playwright is imported where it is used: a command listing need not load it
    from playwright.sync_api import Browser

Theme = Literal["light", "dark"]
THEMES: tuple[Theme, ...] = ("light", "dark")


class Command(BaseCommand):
    help = ("Run producer, workers and web until --trades more are shown, then screenshot the dashboard and a "
            "drill-down with its chart, in light and dark, into --out.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, default=settings.BASE_DIR / "docs")
        parser.add_argument("--port", type=int, default=8765)
        # Five minutes at the demo's 1,000 a second: five candles on the drill-down's 30-minute chart.
        parser.add_argument("--trades", type=int, default=300_000,
                            help="trades the page must gain before the pictures")

    def handle(self, *args: Any, out: Path, port: int, trades: int, **options: Any) -> None:
        from playwright.sync_api import sync_playwright

        out.mkdir(parents=True, exist_ok=True)
        demo = subprocess.Popen([sys.executable, "manage.py", "demo", "--port", str(port), "--rate", "1000"],
                                cwd=settings.BASE_DIR, stdout=subprocess.DEVNULL)
        saved = []
        try:
            _wait_for(f"http://127.0.0.1:{port}/healthz")
            with sync_playwright() as playwright:
                browser = launch(playwright)
                url = f"http://127.0.0.1:{port}/?range=30"
                until = _shown_trades(browser, url) + trades  # the trades of this run, not of the database's past
                for theme in THEMES:
                    saved += _pictures(browser, url, theme, until, out)
                browser.close()
        finally:
            demo.send_signal(signal.SIGTERM)
            demo.wait(60)
        self.stdout.write("saved " + ", ".join(str(path) for path in saved))


def _shown_trades(browser: Browser, url: str) -> int:
    """The total trades a page shows once it has its snapshot (the header says "–" before)."""
    page = browser.new_page()
    page.goto(url)
    page.wait_for_function(f"() => Number.isFinite(({SHOWN_TRADES})())")
    shown: int = page.evaluate(SHOWN_TRADES)
    page.close()
    return shown


def _pictures(browser: Browser, url: str, theme: Theme, until: int, out: Path) -> list[Path]:
    """The dashboard and the busiest symbol's drill-down, in `theme`, once `until` trades are shown."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme=theme)
    page = context.new_page()
    page.goto(url)
    page.wait_for_function(f"n => ({SHOWN_TRADES})() >= n", arg=until, timeout=3_600_000)
    page.wait_for_function("() => document.querySelector('#trades-per-second').textContent !== '–'")
    page.wait_for_function("() => document.querySelector('#sort-status').dataset.paused === 'false'")
    dashboard, drilldown = out / f"dashboard-{theme}.png", out / f"drilldown-{theme}.png"
    page.screenshot(path=str(dashboard))
    page.locator("#symbols tbody tr.symbol-row button.toggle").first.click()
    page.wait_for_selector("tr.detail .trades-scroll tbody tr")
    page.wait_for_function("() => document.querySelector('tr.detail .chart-legend').dataset.close !== ''")
    page.mouse.move(0, 0)
    page.locator("tr.detail").scroll_into_view_if_needed()
    page.screenshot(path=str(drilldown))
    context.close()
    return [dashboard, drilldown]


def _wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.3)
    raise CommandError(f"{url} did not answer")
