"""`bench page`: the dashboard in a real browser for minutes of live trades. Does a page a
trader keeps open stay the same size, and still show exactly what was sent?

Runs the system as `make demo` does (`benchmarks/system.run_system`), opens the dashboard
in headless Chromium with `drilldowns` drill-downs open (the first symbols of the universe,
on the table's first page sorted by symbol, each getting its share of the stream), and
streams `rate` trades a second for `minutes`. Each minute, and once more at the end, it collects
the page's garbage and reads its JavaScript heap and DOM nodes (Chrome DevTools Protocol)
and the rows of the largest drill-down. The figures compare the first sample after a
warm-up (a tenth of the run, at most a minute) with the largest and the last. At the end,
the page's total trades must be what the producer sent. Not part of `make bench`
(minutes): run `python manage.py bench page --minutes 15 --rate 5000 --drilldowns 5 --json`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from clickhouse_connect.driver.client import Client

from benchmarks.system import Stream, run_system
from harness.browser import SHOWN_TRADES, launch
from harness.progress import progress
from trademonitor.symbols import bundled_universe

logger = logging.getLogger(__name__)

SAMPLE_SECONDS = 60
LARGEST_DRILL_DOWN = """() => Math.max(0, ...[...document.querySelectorAll('tr.detail tbody')]
                                          .map((body) => body.childElementCount))"""
SHOWS_TRADES = f"n => ({SHOWN_TRADES})() === n"


def run(minutes: float, rate: int, drilldowns: int) -> dict:
    from playwright.sync_api import sync_playwright

    seconds = minutes * 60
    stream = Stream(f"bench-page-{uuid.uuid4().hex[:8]}", rate, seconds, record=False)
    symbols = bundled_universe()[:drilldowns]
    figures: dict = {"minutes": minutes, "rate": rate, "drilldowns": symbols}

    def listen(url: str, stream: Stream, writer: Client) -> None:
        site = url.replace("ws://", "http://").removesuffix("/ws/live")
        with sync_playwright() as playwright:
            browser = launch(playwright)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            devtools = page.context.new_cdp_session(page)
            devtools.send("Performance.enable")
            # Sorted by symbol, the open drill-downs are rows of the first page, and stay there.
            page.goto(f"{site}/?sort=symbol&dir=asc&open={','.join(symbols)}")
            page.wait_for_function("() => document.body.dataset.feed === 'live'")

            def sample() -> dict:
                devtools.send("HeapProfiler.collectGarbage")
                metrics = {m["name"]: m["value"] for m in devtools.send("Performance.getMetrics")["metrics"]}
                return {"at_s": round(time.monotonic() - started, 1),
                        "heap_mb": round(metrics["JSHeapUsedSize"] / 2**20, 1), "nodes": int(metrics["Nodes"]),
                        "drilldown_rows": page.evaluate(LARGEST_DRILL_DOWN)}

            producer = threading.Thread(target=stream.run, daemon=True)
            started = time.monotonic()
            producer.start()
            samples = []
            warm_up = min(60.0, seconds / 10)
            with progress(int(seconds), "streaming to the page", unit="s") as bar:
                next_sample = warm_up
                while producer.is_alive():
                    # The page's own work goes on while this waits (Playwright's wait runs its loop).
                    page.wait_for_timeout(1_000)
                    bar.update(1)
                    if time.monotonic() - started >= next_sample:
                        samples.append(sample())
                        logger.info("page after %(at_s)s s: heap %(heap_mb)s MB, %(nodes)s nodes, "
                                    "largest drill-down %(drilldown_rows)s rows", samples[-1])
                        next_sample += SAMPLE_SECONDS
            try:
                page.wait_for_function(SHOWS_TRADES, arg=stream.sent, timeout=300_000)
                exact = True
            except Exception:  # noqa: BLE001 - a timeout is the finding: the page shows another total
                exact = False
            shown = page.evaluate(SHOWN_TRADES)
            samples.append(sample())
            browser.close()
        figures.update(_compare(samples))
        figures.update({"sent": stream.sent, "shown": shown, "exact": exact, "samples": samples})

    run_system(stream, listen)
    return figures


def _compare(samples: list[dict]) -> dict:
    """The first sample after the warm-up against the largest and the last."""
    first, last = samples[0], samples[-1]
    return {
        "heap_mb_first": first["heap_mb"], "heap_mb_max": max(s["heap_mb"] for s in samples),
        "heap_mb_last": last["heap_mb"], "nodes_first": first["nodes"],
        "nodes_max": max(s["nodes"] for s in samples), "nodes_last": last["nodes"],
        "drilldown_rows_max": max(s["drilldown_rows"] for s in samples),
    }
