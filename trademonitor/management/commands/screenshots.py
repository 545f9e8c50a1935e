"""`manage.py screenshots`: run the system briefly and save the dashboard as PNGs."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


class Command(BaseCommand):
    help = "Run producer, workers and web for a few seconds and screenshot the dashboard into --out."

    def add_arguments(self, parser):
        parser.add_argument("--out", type=Path, default=settings.BASE_DIR / "docs")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--seconds", type=float, default=12)

    def handle(self, *args, out: Path, port: int, seconds: float, **options):
        from playwright.sync_api import sync_playwright

        out.mkdir(parents=True, exist_ok=True)
        demo = subprocess.Popen([sys.executable, "manage.py", "demo", "--port", str(port), "--rate", "1000"],
                                cwd=settings.BASE_DIR, stdout=subprocess.DEVNULL)
        try:
            _wait_for(f"http://127.0.0.1:{port}/healthz")
            time.sleep(seconds)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_selector("#symbols tbody tr.symbol-row")
                page.wait_for_timeout(2000)
                page.screenshot(path=str(out / "dashboard.png"))
                page.locator("#symbols tbody tr.symbol-row button.toggle").first.click()
                page.wait_for_selector("tr.detail tbody tr")
                page.wait_for_timeout(2500)
                page.screenshot(path=str(out / "drilldown.png"))
                browser.close()
        finally:
            demo.send_signal(signal.SIGTERM)
            demo.wait(60)
        self.stdout.write(f"saved {out / 'dashboard.png'} and {out / 'drilldown.png'}")


def _wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.3)
    raise CommandError(f"{url} did not answer")
