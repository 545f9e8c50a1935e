"""Debian's Chromium, headless, as the browser tests, the screenshots and `bench page` drive it."""

from __future__ import annotations

from typing import Any

CHROMIUM = "/usr/bin/chromium"  # installed by devservices/install-system-packages.sh
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]
# The dashboard's total trades as a number (NaN while the header shows "–", before the snapshot).
SHOWN_TRADES = "() => Number(document.querySelector('#total-trades').textContent.replace(/,/g, ''))"


def launch(playwright: Any) -> Any:
    """A headless Chromium from a started `sync_playwright()`."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
