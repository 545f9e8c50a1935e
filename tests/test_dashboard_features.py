"""Issue 22's dashboard in a real browser (Debian's Chromium, Playwright) against daphne,
the workers, Kafka and the ClickHouse endpoint: the chart, the watchlist, the view in the
URL, steady sorting, dark mode, CSV export, the keyboard, reduced motion and axe-core."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from clickhouse import queries
from producer.trades import now_ms
from tests.browser import SYMBOLS, open_dashboard, row, search, wait_until_kept
from tests.conftest import PROJECT_DIR

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.browser]

AXE = PROJECT_DIR / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))
    yield context
    context.close()
    assert errors == []


def detail(page, symbol: str):
    return page.locator(f'tr[data-detail-for="{symbol}"]')


def open_drill_down(page, url: str, symbol: str):
    """The dashboard at `url` with `symbol`'s drill-down open; its row."""
    open_dashboard(page, url)
    search(page, symbol)
    row(page, symbol).locator("button.toggle").click()
    return detail(page, symbol)


def drill_down_ids(page, symbol: str) -> list[str]:
    return detail(page, symbol).locator(".trades-scroll tbody tr").evaluate_all("rows => rows.map(r => r.dataset.tradeId)")


def test_the_chart_has_axes_and_its_last_candle_follows_live_trades(site, context, browser):
    pipeline, url = site
    symbol = SYMBOLS[11]
    # All four trades fall in one minute's candle, whenever the test runs: a minute's start
    # plus a few milliseconds, never later than now by more than those milliseconds.
    minute = now_ms() // 60_000 * 60_000
    pipeline.send_trades([(symbol, price, 3, minute + n, None) for n, price in enumerate((10_000, 10_250, 9_900))])
    assert pipeline.wait_for(3) == 3
    page = context.new_page()
    open_drill_down(page, url, symbol)
    chart = detail(page, symbol).locator(".chart")
    legend = detail(page, symbol).locator(".chart-legend")
    expect(legend).to_have_attribute("data-close", "9900")
    axes = chart.evaluate("c => [c.chartApi.priceScale('right').width(), c.chartApi.timeScale().height()]")
    assert axes[0] > 30 and axes[1] > 15, axes  # a price axis and a time axis, drawn
    assert chart.locator("canvas").count() >= 3
    # The time axis is the range's: a point a minute for the hour, blank where nothing traded.
    assert_axis(chart, minutes=60, interval=1, candle_at=minute, close=99.00)

    [newest] = pipeline.send_trades([(symbol, 10_475, 2, minute + 3, None)])  # the last candle follows, before any reload
    expect(detail(page, symbol).locator(".trades-scroll tbody tr").first).to_have_attribute("data-trade-id", newest)
    expect(legend).to_have_attribute("data-close", "10475")
    expect(legend).to_contain_text("C $104.75")
    [last] = queries.candles(pipeline.clickhouse(), symbol, *_today())[-1:]
    assert int(last.close * 100) == 10475 and int(last.high * 100) == 10475 and int(last.low * 100) == 9900

    detail(page, symbol).get_by_role("button", name="15 m", exact=True).click()  # interval and range reach the API
    detail(page, symbol).get_by_role("button", name="6 h", exact=True).click()
    expect(detail(page, symbol).get_by_role("button", name="15 m", exact=True)).to_have_attribute("aria-pressed", "true")
    expect(legend).to_have_attribute("data-close", "10475")
    assert "interval=15" in page.url and "range=360" in page.url
    assert_axis(chart, minutes=360, interval=15, candle_at=minute // 900_000 * 900_000, close=104.75)

    # The chart is in the viewer's time zone, and its read-out says which (the tables say UTC),
    # year first as the tables are, whatever order the viewer's locale gives dates.
    tokyo = browser.new_context(timezone_id="Asia/Tokyo", locale="en-GB").new_page()  # day first, by its locale
    open_drill_down(tokyo, url, symbol)
    start = dt.datetime.fromtimestamp(minute / 1000, ZoneInfo("Asia/Tokyo"))
    expect(detail(tokyo, symbol).locator(".chart-legend")).to_contain_text(f"{start:%Y-%m-%d %H:%M} GMT+9")
    tokyo.context.close()


def assert_axis(chart, minutes: int, interval: int, candle_at: int, close: float) -> None:
    """The chart's axis has a point each interval of the range, blank where nothing traded
    (the library lists only the candles in `data()`), and the candle of `candle_at` drawn."""
    points = minutes // interval
    chart.page.wait_for_function(
        "([c, n]) => { const r = c.chartApi.timeScale().getVisibleLogicalRange(); return r && r.to - r.from + 1 === n; }",
        arg=[chart.element_handle(), points])
    span = chart.evaluate("c => { const r = c.chartApi.timeScale().getVisibleRange(); return r.to - r.from; }")
    assert span == (points - 1) * interval * 60  # ascending whole intervals, so evenly spaced
    candles = chart.evaluate("c => c.chartApi.panes()[0].getSeries()[0].data().map(p => [p.time, p.close])")
    assert len(candles) < points  # blanks where the symbol did not trade
    shift = chart.evaluate(f"() => new Date({candle_at}).getTimezoneOffset() * 60")  # the axis is in local time
    assert dict(candles).get(candle_at // 1000 - shift) == close, candles
    # Nothing to scroll to past the range's end: the edge stays, and so does its label, whole.
    ranges = chart.evaluate("""async c => { const t = c.chartApi.timeScale(), before = t.getVisibleLogicalRange();
        t.scrollToPosition(5, false);
        await new Promise((drawn) => requestAnimationFrame(() => requestAnimationFrame(drawn)));
        const after = t.getVisibleLogicalRange();
        return [[before.from, before.to], [after.from, after.to]]; }""")
    assert ranges[0] == ranges[1]


def _today() -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    return now - dt.timedelta(days=1), now + dt.timedelta(days=1)


def test_the_view_is_in_the_url_and_a_fresh_page_restores_it(site, context):
    pipeline, url = site
    pipeline.produce(500, SYMBOLS[:40], seed=21)
    assert pipeline.wait_for(500) == 500
    page = context.new_page()
    open_dashboard(page, url)
    page.fill("#search", "a")
    page.select_option("#page-size", "25")
    page.click('th button[data-sort="price"]')
    page.click('th button[data-sort="price"]')  # ascending
    page.click("#next-page")
    first = page.locator("#symbols tbody tr.symbol-row").first.get_attribute("data-symbol")
    page.locator("#symbols tbody tr.symbol-row").first.locator("button.toggle").click()
    detail(page, first).get_by_role("button", name="5 m", exact=True).click()
    detail(page, first).get_by_role("button", name="1 d", exact=True).click()
    expect(page).to_have_url(f"{url}/?q=a&sort=price&dir=asc&page=2&rows=25&open={first}&interval=5&range=1440")
    shown = page.locator("#symbols tbody tr.symbol-row").evaluate_all("rows => rows.map(r => r.dataset.symbol)")

    fresh = context.browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    open_dashboard(fresh, page.url)
    expect(fresh.locator("#search")).to_have_value("a")
    expect(fresh.locator("#page-size")).to_have_value("25")
    expect(fresh.locator('th:has(button[data-sort="price"])')).to_have_attribute("aria-sort", "ascending")
    expect(fresh.locator("#page-info")).to_contain_text("page 2 of")
    expect(detail(fresh, first)).to_be_visible()
    expect(detail(fresh, first).get_by_role("button", name="5 m", exact=True)).to_have_attribute("aria-pressed", "true")
    expect(detail(fresh, first).get_by_role("button", name="1 d", exact=True)).to_have_attribute("aria-pressed", "true")
    assert fresh.locator("#symbols tbody tr.symbol-row").evaluate_all("rows => rows.map(r => r.dataset.symbol)") == shown
    fresh.context.close()

    page.goto(f"{url}/admin/login/")  # away and back: the view comes back with the page
    page.go_back()
    expect(page.locator("#search")).to_have_value("a")
    expect(detail(page, first)).to_be_visible()


def test_the_watchlist_survives_a_reload_in_the_browser_and_on_the_server(site, context):
    pipeline, url = site
    starred = SYMBOLS[20:23]
    for number, symbol in enumerate(starred):
        pipeline.send_trade(symbol, 1_000 + number, 10 + number)
    assert pipeline.wait_for(3) == 3
    page = context.new_page()
    open_dashboard(page, url)
    for symbol in starred:
        search(page, symbol)
        row(page, symbol).locator("button.star").click()
        expect(row(page, symbol).locator("button.star")).to_have_attribute("aria-pressed", "true")
    search(page, "")
    page.click("#watchlist-view")
    expect(page.locator("#symbols tbody tr.symbol-row")).to_have_count(3)
    volume = sum((1_000 + n) * (10 + n) for n in range(3))
    expect(page.locator("#watchlist-summary")).to_contain_text(
        f"3 symbols, 3 trades, ${volume // 100:,}.{volume % 100:02d} volume (kept in this browser)")
    page.reload()
    expect(page.locator("#symbols tbody tr.symbol-row")).to_have_count(3)
    assert sorted(page.locator("#symbols tbody tr.symbol-row").evaluate_all("r => r.map(x => x.dataset.symbol)")) \
        == sorted(starred)

    _create_user(pipeline.symbol_db, "trader", "a-long-test-password-22")
    server = context.browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    server.goto(f"{url}/admin/login/?next=/")
    server.fill("#id_username", "trader")
    server.fill("#id_password", "a-long-test-password-22")
    server.click("input[type=submit]")
    server.goto(f"{url}/?view=watchlist")
    expect(server.locator("#connection")).to_have_text("live", timeout=15_000)
    expect(server.locator("#page-info")).to_contain_text("(0 symbols)")  # the browser's list is not the account's
    server.click("#watchlist-view")
    search(server, starred[0])
    row(server, starred[0]).locator("button.star").click()
    expect(row(server, starred[0]).locator("button.star")).to_have_attribute("aria-pressed", "true")
    server.evaluate("localStorage.clear()")
    server.reload()
    expect(row(server, starred[0]).locator("button.star")).to_have_attribute("aria-pressed", "true")
    assert server.request.get(f"{url}/api/watchlist").json() == {"symbols": [starred[0]]}
    server.context.close()


def _create_user(symbol_db: str, username: str, password: str) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{symbol_db}", "DJANGO_SUPERUSER_PASSWORD": password}
    subprocess.run([sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", username,
                    "--email", f"{username}@example.com"], cwd=PROJECT_DIR, env=env, check=True, capture_output=True)


def test_rows_resort_each_second_and_never_under_the_pointer(site, context):
    pipeline, url = site
    pipeline.produce(2_000, SYMBOLS[:60], seed=22)
    assert pipeline.wait_for(2_000) == 2_000
    page = context.new_page()
    open_dashboard(page, url)
    expect(page.locator("#total-trades")).to_have_text("2,000")
    assert_sorted_by_volume(page)
    expect(page.locator("#sort-status")).to_contain_text("Sorted by Volume ▼, re-sorted every second")

    page.hover("#symbols tbody tr.symbol-row >> nth=2")  # the pointer on the table: nothing moves under it
    before = symbols_shown(page)
    traded = Counter(pipeline.tally.trades)
    pipeline.produce(1_000, SYMBOLS[:60], seed=23)
    changed = {symbol for symbol, count in pipeline.tally.trades.items() if count > traded[symbol]}
    assert len(changed) == 60  # so the count below is the same whether or not the page had re-sorted after the first
    expect(page.locator("#total-trades")).to_have_text("3,000", timeout=30_000)
    expect(page.locator("#sort-status")).to_have_attribute("data-paused", "true")
    expect(page.locator("#sort-status")).to_have_text("Sorting paused while the pointer is on the table: 60 symbols changed")
    assert symbols_shown(page) == before

    page.mouse.move(5, 5)  # off the table: re-sorted at once, and in order
    expect(page.locator("#sort-status")).to_have_attribute("data-paused", "false")
    assert_sorted_by_volume(page)


def symbols_shown(page) -> list[str]:
    return page.locator("#symbols tbody tr.symbol-row").evaluate_all("rows => rows.map(r => r.dataset.symbol)")


def assert_sorted_by_volume(page) -> None:
    volumes = page.locator("#symbols tbody tr.symbol-row td.volume").evaluate_all(
        "cells => cells.map(c => Number(c.textContent.replace(/[$,.]/g, '')))")
    assert volumes == sorted(volumes, reverse=True) and volumes[0] > 0


def test_dark_mode_is_toggled_and_remembered_and_follows_the_system_until_then(site, browser):
    pipeline, url = site
    context = browser.new_context(color_scheme="dark")
    page = context.new_page()
    open_dashboard(page, url)
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.click("#theme")
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(250, 250, 250)"
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")  # the choice beats the system's
    page.click("#theme")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(13, 17, 23)"
    context.close()


def test_a_drill_down_open_all_day_keeps_its_table_bounded_and_its_order_exact(site, context):
    """Past MAX_TRADE_ROWS (1,000) rows, with the reader at the top (back there, or there
    when a live trade comes), the table starts again from the newest page: no row is lost
    from the order, and older ones page in."""
    pipeline, url = site
    symbol = SYMBOLS[31]
    count, now = 1_010, now_ms()
    pipeline.send_trades([(symbol, 1_000 + i, 1, now - 1_000 * i, None) for i in range(count)])
    assert pipeline.wait_for(count) == count
    page = context.new_page()
    open_drill_down(page, url, symbol)
    rows = detail(page, symbol).locator(".trades-scroll tbody tr")
    scroller = detail(page, symbol).locator(".trades-scroll")
    for expected in [*range(50, count, 50), count]:
        expect(rows).to_have_count(expected)
        scroller.evaluate("element => element.scrollTo(0, element.scrollHeight)")

    [seen_scrolled_down] = pipeline.send_trades([(symbol, 5_000, 2, now_ms(), None)])
    expect(rows.first).to_have_attribute("data-trade-id", seen_scrolled_down)
    assert rows.count() == count + 1  # a reader down the table keeps every row

    scroller.evaluate("element => element.scrollTo(0, 0)")
    [newest] = pipeline.send_trades([(symbol, 5_100, 3, now_ms() + 1, None)])
    page.wait_for_function("body => body.childElementCount <= 51", arg=rows.first.locator("..").element_handle())
    expect(rows.first).to_have_attribute("data-trade-id", newest)

    shown = wait_for_stored_order(page, pipeline, symbol)
    scroller.evaluate("element => element.scrollTo(0, element.scrollHeight)")
    expect(rows).to_have_count(len(shown) + 50)  # older trades page in after the rows kept
    assert drill_down_ids(page, symbol) == stored_newest(pipeline, symbol, len(shown) + 50)


def test_trades_faster_than_a_frame_holds_leave_no_hole_in_the_drill_down(site, context):
    """A trades frame is a symbol's newest 20: when more came since the last one, the table
    starts again from the newest page rather than show them over a gap."""
    pipeline, url = site
    symbol = SYMBOLS[32]
    now = now_ms()
    pipeline.send_trades([(symbol, 2_000 + i, 1, now - 60_000 + i, None) for i in range(5)])
    assert pipeline.wait_for(5) == 5
    page = context.new_page()
    open_drill_down(page, url, symbol)
    rows = detail(page, symbol).locator(".trades-scroll tbody tr")
    expect(rows).to_have_count(5)

    # One partition, so one worker's one batch: a single delta of 60 trades, a frame of its newest 20.
    burst = pipeline.send_trades([(symbol, 3_000 + i, 2, now_ms() + i, 0) for i in range(60)])
    expect(rows.first).to_have_attribute("data-trade-id", burst[-1])
    shown = wait_for_stored_order(page, pipeline, symbol)
    assert len(shown) >= 50  # the newest page, not 5 + the frame's 20 over a gap of 40
    detail(page, symbol).locator(".trades-scroll").evaluate("element => element.scrollTo(0, element.scrollHeight)")
    expect(rows).to_have_count(65)
    assert drill_down_ids(page, symbol) == stored_newest(pipeline, symbol, 65)


def test_live_trades_of_every_partition_take_their_place_in_the_drill_downs_order(site, context):
    """A symbol's trades are inserted partition by partition: a frame can bring trades older
    than the rows on top, and they go below them, as ClickHouse orders them (ts, id)."""
    pipeline, url = site
    symbol = SYMBOLS[33]
    now = now_ms()
    pipeline.send_trades([(symbol, 2_000, 1, now - 60_000, None)])
    assert pipeline.wait_for(1) == 1
    page = context.new_page()
    open_drill_down(page, url, symbol)
    rows = detail(page, symbol).locator(".trades-scroll tbody tr")
    expect(rows).to_have_count(1)

    [newer] = pipeline.send_trades([(symbol, 2_100, 1, now + 1_000, 1)])
    expect(rows.first).to_have_attribute("data-trade-id", newer)
    [older] = pipeline.send_trades([(symbol, 2_200, 1, now, 2)])  # stored after, stamped before
    expect(rows).to_have_count(3)
    assert drill_down_ids(page, symbol)[:2] == [newer, older] == stored_newest(pipeline, symbol, 2)


def stored_newest(pipeline, symbol: str, n: int) -> list[str]:
    return [str(t.id) for t in queries.trades_page(pipeline.clickhouse(), symbol, limit=n).trades]


def wait_for_stored_order(page, pipeline, symbol: str, timeout: float = 30.0) -> list[str]:
    """The drill-down's trades once they are the symbol's newest as stored, in order."""
    deadline = time.monotonic() + timeout
    while (shown := drill_down_ids(page, symbol)) != stored_newest(pipeline, symbol, len(shown)):
        assert time.monotonic() < deadline, f"{len(shown)} rows, not the newest as stored"
        page.wait_for_timeout(100)
    return shown


def test_csv_of_a_symbol_equals_its_drill_down_and_clickhouse(site, context, tmp_path):
    pipeline, url = site
    symbol = SYMBOLS[30]
    now = int(time.time() * 1000)
    sent = [(symbol, 1_000 + 7 * i, 1 + i % 50, now - 1_000 * i, None) for i in range(230)]
    pipeline.send_trades(sent)
    assert pipeline.wait_for(230) == 230
    page = context.new_page()
    open_drill_down(page, url, symbol)
    scroller = detail(page, symbol).locator(".trades-scroll")
    for expected in (50, 100, 150, 200, 230):
        expect(detail(page, symbol).locator(".trades-scroll tbody tr")).to_have_count(expected)
        scroller.evaluate("element => element.scrollTo(0, element.scrollHeight)")
    expect(detail(page, symbol).locator(".csv-note")).to_contain_text("at most 1,000,000 rows")
    with page.expect_download() as download:
        detail(page, symbol).get_by_role("link", name=f"Download CSV of {symbol}'s trades, the last 1 h").click()
    path = tmp_path / "trades.csv"
    download.value.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [r["trade_id"] for r in rows] == drill_down_ids(page, symbol)  # the same trades, in the same order
    assert len(rows) == 230
    value = sum(Decimal(r["value"]) for r in rows)
    assert value == sum(Decimal(p) / 100 * q for _, p, q, _, _ in sent)
    assert all(Decimal(r["price"]) * int(r["quantity"]) == Decimal(r["value"]) for r in rows)
    assert all(len(r["price"].split(".")[1]) == 2 for r in rows)  # dollars as exact text
    stored = pipeline.clickhouse().query(
        "SELECT count(), sum(price * quantity) FROM trades WHERE symbol = {s:String}", parameters={"s": symbol})
    assert stored.result_rows[0] == (230, value)


def test_keyboard_only_opens_reads_and_closes_a_drill_down(site, context):
    pipeline, url = site
    symbol = SYMBOLS[40]
    pipeline.send_trade(symbol, 4_200, 9)
    assert pipeline.wait_for(1) == 1
    page = context.new_page()
    open_dashboard(page, url)
    page.keyboard.press("/")
    expect(page.locator("#search")).to_be_focused()
    page.keyboard.type(symbol)
    page.keyboard.press("ArrowDown")
    expect(row(page, symbol)).to_be_focused()
    page.keyboard.press("Enter")
    expect(detail(page, symbol)).to_be_visible()
    expect(detail(page, symbol).locator(".trades-scroll tbody tr")).to_have_count(1)
    for _ in range(10):  # Tab through the row's buttons to the trades
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('trades-scroll')"):
            break
    expect(detail(page, symbol).locator(".trades-scroll")).to_be_focused()
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"  # focus is visible
    page.keyboard.press("Escape")
    expect(detail(page, symbol)).to_have_count(0)
    expect(row(page, symbol)).to_be_focused()

    search(page, "")  # the table re-sorting under live trades: the focus moves with the row
    row(page, symbol).focus()
    renders = int(page.evaluate("document.body.dataset.renders"))
    pipeline.send_trade(symbol, 100_000, 10_000)  # $10,000,000: to the top of "Volume ▼"
    page.wait_for_function("n => Number(document.body.dataset.renders) > n", arg=renders)
    expect(page.locator("#symbols tbody tr.symbol-row").first).to_have_attribute("data-symbol", symbol)
    expect(row(page, symbol)).to_be_focused()
    page.keyboard.press("Enter")
    expect(detail(page, symbol)).to_be_visible()


def test_reduced_motion_changes_colour_without_animation(site, browser):
    pipeline, url = site
    symbol = SYMBOLS[41]
    pipeline.send_trade(symbol, 5_000, 1)
    context = browser.new_context(reduced_motion="reduce")
    page = context.new_page()
    open_dashboard(page, url)
    search(page, symbol)
    expect(row(page, symbol).locator("td.price")).to_have_text("$50.00", timeout=10_000)
    pipeline.send_trade(symbol, 5_100, 1)
    # Read while the row flashes, in one go: the flash lasts a second, and on a busy machine
    # a second round trip to the page came after it (CI at bfa0580).
    flashing = page.wait_for_function("""symbol => {
        const row = document.querySelector(`#symbols tr.symbol-row[data-symbol="${symbol}"]`);
        if (!row || !row.classList.contains("flash-up")) return null;
        const style = getComputedStyle(row.querySelector("td.price"));
        return {transition: style.transitionDuration, background: style.backgroundColor};
    }""", arg=symbol, timeout=5_000).json_value()
    assert flashing == {"transition": "0s", "background": "rgb(220, 244, 226)"}  # --flash-up at once
    context.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_finds_no_violations_with_a_drill_down_open(site, context, theme):
    pipeline, url = site
    symbol = SYMBOLS[50]
    pipeline.send_trade(symbol, 7_777, 70)
    assert pipeline.wait_for(1) == 1
    page = context.new_page()
    page.add_init_script(f"localStorage.setItem('trademonitor.theme', '{theme}')")
    page.add_init_script(path=AXE)  # as the page loads, so the site's CSP (no inline script) stays on
    open_drill_down(page, url, symbol)
    expect(detail(page, symbol).locator(".chart-legend")).to_have_attribute("data-close", "7777")
    page.click("#sql-panel summary")
    violations = page.evaluate("""async () => (await axe.run(document)).violations
        .map(v => `${v.impact} ${v.id}: ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)""")
    assert violations == [], "\n".join(violations)


def test_sql_panel_result_downloads_as_csv_with_exact_decimals(site, context, tmp_path):
    pipeline, url = site
    now = int(time.time() * 1000)
    pipeline.send_trades([(SYMBOLS[60], 12_345, 3, now, None), (SYMBOLS[61], 1, 1, now, None)])
    assert pipeline.wait_for(2) == 2
    page = context.new_page()
    open_dashboard(page, url)
    page.click("#sql-panel summary")
    page.fill("#sql", "SELECT symbol, price, price * quantity AS value FROM trades ORDER BY symbol")
    page.click("#run-sql")
    expect(page.locator("#sql-result td").first).to_have_text(SYMBOLS[60] if SYMBOLS[60] < SYMBOLS[61] else SYMBOLS[61])
    with page.expect_download() as download:
        page.click("#download-sql")
    path = Path(tmp_path / "result.csv")
    download.value.save_as(path)
    expected = sorted([[SYMBOLS[60], "123.45", "370.35"], [SYMBOLS[61], "0.01", "0.01"]])
    assert list(csv.reader(io.StringIO(path.read_text()))) == [["symbol", "price", "value"], *expected]


def wait_until(page, condition, message: str, timeout: float = 30.0) -> None:
    """Until `condition()` holds; Playwright dispatches the page's events meanwhile."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        page.wait_for_timeout(50)


def test_a_drill_down_marks_as_new_only_trades_that_came_after_it_opened(site, context):
    """The feed's trades frame for a symbol can reach the page before the drill-down's
    first page does (a delta touching the symbol as the page frame is sent): its trades
    that the page holds too were there before the drill-down opened, the others were not."""
    pipeline, url = site
    symbol = SYMBOLS[70]
    pipeline.send_trades([(symbol, 5_000 + n, 1, now_ms(), None) for n in range(3)])
    assert pipeline.wait_for(3) == 3
    page = context.new_page()
    sockets, held, trades_frames = [], [], []
    page_frame = f'{{"type":"page","symbol":"{symbol}"'

    def hold_the_first_page(socket):
        sockets.append(socket)
        server = socket.connect_to_server()

        def to_page(message):
            if isinstance(message, str) and message.startswith(page_frame) and not held:
                held.append(message)
                return
            if isinstance(message, str) and message.startswith('{"type":"trades"') and symbol in message:
                trades_frames.append(message)
            socket.send(message)

        server.on_message(to_page)
        socket.on_message(server.send)

    page.route_web_socket("**/ws/live", hold_the_first_page)
    open_dashboard(page, url)
    wait_until_kept(url, symbol)
    search(page, symbol)
    row(page, symbol).locator("button.toggle").click()
    wait_until(page, lambda: held, "the first page was not sent")
    [later] = pipeline.send_trades([(symbol, 5_100, 1, now_ms(), None)])
    wait_until(page, lambda: trades_frames, "no trades frame came for the open drill-down")
    expect(detail(page, symbol).locator(".trades-scroll tbody tr")).to_have_count(0)  # held back till its page
    sockets[0].send(held[0])

    trades = detail(page, symbol).locator(".trades-scroll tbody tr")
    expect(trades).to_have_count(4)
    expect(detail(page, symbol).locator("tr.new")).to_have_count(1)  # the one sent after it opened
    expect(trades.first).to_have_attribute("data-trade-id", later)

    [latest] = pipeline.send_trades([(symbol, 5_200, 1, now_ms(), None)])
    expect(detail(page, symbol).locator("tr.new")).to_have_count(2)
    expect(trades.first).to_have_attribute("data-trade-id", latest)


def test_a_drill_down_opened_on_a_live_page_takes_its_first_page_from_the_feed(site, context):
    """No request to the API: the page frame the feed sends in answer to the subscribe is the
    first page, and it is the page ClickHouse holds."""
    pipeline, url = site
    symbol = SYMBOLS[71]
    pipeline.send_trades([(symbol, 6_000 + n, 1 + n, now_ms(), None) for n in range(60)])
    assert pipeline.wait_for(60) == 60
    page = context.new_page()
    asked = []
    page.on("request", lambda request: asked.append(request.url) if f"/api/symbols/{symbol}/trades?" in request.url
            else None)
    open_dashboard(page, url)
    wait_until_kept(url, symbol)
    search(page, symbol)
    row(page, symbol).locator("button.toggle").click()
    shown = detail(page, symbol).locator(".trades-scroll tbody tr")
    stored = queries.trades_page(pipeline.clickhouse(), symbol, limit=50).trades
    expect(shown).to_have_count(50)
    assert drill_down_ids(page, symbol) == [str(trade.id) for trade in stored]
    assert asked == []
    shown.last.scroll_into_view_if_needed()  # older trades page in from the API, after the feed's cursor
    expect(shown).to_have_count(60)
    assert len(asked) == 1 and "before=" in asked[0]


@pytest.mark.parametrize("width", [390, 820, 1000, 1280])
def test_the_table_fits_the_window_and_a_narrow_one_puts_the_chart_under_the_trades(site, browser, width):
    pipeline, url = site
    symbol = SYMBOLS[13]
    pipeline.send_trade(symbol, 10_000, 5)
    assert pipeline.wait_for(1) == 1
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    open_drill_down(page, url, symbol)
    expect(detail(page, symbol).locator(".trades-scroll tbody tr")).to_have_count(1)

    wrap = page.locator(".table-wrap").evaluate("w => [w.scrollWidth, w.clientWidth]")
    assert wrap[0] <= wrap[1], f"the table scrolls sideways at {width} px: {wrap}"
    trades = detail(page, symbol).locator(".trades-scroll").bounding_box()
    chart = detail(page, symbol).locator(".chart").bounding_box()
    beside = chart["x"] >= trades["x"] + trades["width"]
    assert beside == (width >= 1240), (width, trades, chart)  # beside only where both fit
    assert beside or chart["y"] >= trades["y"] + trades["height"]
    name = row(page, symbol).locator("td.name")
    assert name.get_attribute("title") == name.text_content() != ""  # whole on hover, however cut
    page.context.close()
