"""The dashboard in a real browser (Debian's Chromium, headless, driven by Playwright)
against daphne, real Kafka, the ClickHouse endpoint, Redis and the worker pool."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from urllib.request import urlopen

import pytest
from playwright.sync_api import expect

import contract
from clickhouse import queries
from producer.trades import now_ms
from tests.browser import SYMBOLS, open_dashboard, row, search
from tests.pipeline import Pipeline

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.browser]

def test_lists_every_symbol_over_pages_with_paging_sorting_and_search(site, page):
    pipeline, url = site
    open_dashboard(page, url)

    info = page.locator("#page-info")
    expect(info).to_contain_text(re.compile(r"of \d+ \(3,[0-9]{3} symbols\)"))
    total = int(re.search(r"\(([\d,]+) symbols\)", info.inner_text()).group(1).replace(",", ""))
    assert total >= 3000
    expect(page.locator("#symbols tbody tr.symbol-row")).to_have_count(50)
    page.select_option("#page-size", "100")
    expect(page.locator("#symbols tbody tr.symbol-row")).to_have_count(100)
    expect(info).to_contain_text(f"page 1 of {-(-total // 100)}")
    page.click("#next-page")
    expect(info).to_contain_text("page 2 of")

    page.click('th button[data-sort="symbol"]')
    symbols = page.locator("#symbols tbody tr.symbol-row td.symbol").all_inner_texts()
    assert symbols == sorted(symbols)
    page.click('th button[data-sort="symbol"]')
    symbols = page.locator("#symbols tbody tr.symbol-row td.symbol").all_inner_texts()
    assert symbols == sorted(symbols, reverse=True)

    search(page, "apple inc")
    expect(page.locator("#symbols tbody tr.symbol-row td.symbol")).to_contain_text(["AAPL"])
    search(page, "MSFT")
    expect(row(page, "MSFT")).to_be_visible()


def test_price_rise_flashes_green_and_fall_red_with_the_right_numbers(site, browser, page):
    pipeline, url = site
    symbol = SYMBOLS[7]
    pipeline.send_trade(symbol, 10_000, 5)
    open_dashboard(page, url)
    search(page, symbol)
    expect(row(page, symbol).locator("td.price")).to_have_text("$100.00", timeout=10_000)

    pipeline.send_trade(symbol, 10_150, 4)
    expect(row(page, symbol)).to_have_class(re.compile("flash-up"), timeout=2_000)
    cell = row(page, symbol).locator
    expect(cell("td.price")).to_have_text("$101.50")
    expect(cell("td.change")).to_have_text("▲ $1.50")
    expect(cell("td.trades")).to_have_text("2")
    expect(cell("td.shares")).to_have_text("9")
    expect(cell("td.volume")).to_have_text("$906.00")

    pipeline.send_trade(symbol, 9_999, 1)
    expect(row(page, symbol)).to_have_class(re.compile("flash-down"), timeout=2_000)
    expect(cell("td.price")).to_have_text("$99.99")
    expect(cell("td.change")).to_have_text("▼ $1.51")

    # A page opened now shows the move too: ClickHouse's snapshot has no moves, the live copy does.
    late = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    open_dashboard(late, url)
    search(late, symbol)
    expect(row(late, symbol).locator("td.price")).to_have_text("$99.99")
    expect(row(late, symbol).locator("td.change")).to_have_text("▼ $1.51")


def test_a_page_on_a_web_process_that_heard_no_move_gets_it_from_the_stored_trades(site, page):
    pipeline, url = site
    symbol = SYMBOLS[5]
    at = int(time.time() * 1000)
    pipeline.send_trades([(symbol, 20_000, 3, at, 0), (symbol, 19_875, 2, at + 1, 0)])
    assert pipeline.wait_for(2) == 2  # stored before any dashboard connects: no delta told of the move

    open_dashboard(page, url)
    search(page, symbol)
    expect(row(page, symbol).locator("td.price")).to_have_text("$198.75")
    expect(row(page, symbol).locator("td.change")).to_have_text("▼ $1.25", timeout=15_000)


def test_drill_down_shows_trades_newest_first_live_and_pages_older_ones(site, page):
    pipeline, url = site
    symbol = SYMBOLS[3]
    sent_at = now_ms()
    ids = pipeline.send_trades([(symbol, 5_000 + i, 1 + i, sent_at + i, None) for i in range(130)])  # a ms apart
    assert pipeline.wait_for(130) >= 130
    open_dashboard(page, url)
    search(page, symbol)
    toggle = row(page, symbol).locator("button.toggle")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    trades = page.locator(f'tr[data-detail-for="{symbol}"] .trades-scroll tbody tr')
    expect(trades).to_have_count(50)

    scroller = page.locator(f'tr[data-detail-for="{symbol}"] .trades-scroll')
    for expected in (100, 130):
        scroller.evaluate("element => element.scrollTo(0, element.scrollHeight)")
        expect(trades).to_have_count(expected)
    shown = trades.evaluate_all("rows => rows.map(r => [r.dataset.tradeId, Number(r.dataset.ms)])")
    assert sorted(trade_id for trade_id, _ in shown) == sorted(ids)
    assert [ms for _, ms in shown] == sorted((ms for _, ms in shown), reverse=True)

    newest = pipeline.send_trade(symbol, 6_000, 7_000)  # a whale: more than 5,000 shares
    expect(trades.first).to_have_attribute("data-trade-id", newest, timeout=2_000)
    expect(trades).to_have_count(131)
    expect(trades.first).to_have_class(re.compile("whale"))
    expect(trades.first.locator(".whale-badge")).to_have_text("WHALE")
    assert page.locator(f'tr[data-detail-for="{symbol}"] tr.whale').count() == 1


SHOWN_CELLS = ["price", "change", "trades", "shares", "volume", "time", "whales"]


def visible_totals(page) -> dict:
    """symbol -> the texts of its SHOWN_CELLS, for each row on the page."""
    return {
        cells[0]: cells[1:]
        for cells in page.locator("#symbols tbody tr.symbol-row").evaluate_all(
            "(rows, names) => rows.map(r => ['symbol', ...names].map(n => r.querySelector(`td.${n}`).textContent))",
            SHOWN_CELLS)
    }


def expected_cells(totals: queries.SymbolTotals) -> list[str]:
    from trademonitor.live import cents

    def money(amount):
        value = cents(amount)
        return f"${value // 100:,}.{value % 100:02d}"

    return [money(totals.last_price), None, f"{totals.trades:,}", f"{totals.shares:,}", money(totals.volume)]


def assert_page_equals_what_was_sent(page, pipeline) -> None:
    """Every traded symbol the page lists, page by page: its trades, shares and volume equal
    what the producer sent (pipeline.tally); its latest price, which the ingestion order
    decides, and its whales, the sentiment job's, equal ClickHouse's."""
    page.select_option("#page-size", "100")
    page.click('th button[data-sort="trades"]')  # the most traded first, ties by symbol
    tally = pipeline.tally
    expect(page.locator("#total-trades")).to_have_text(f"{tally.count:,}", timeout=30_000)  # every update in
    snapshot = queries.snapshot(pipeline.clickhouse())
    whales, _ = queries.sentiment_snapshot(pipeline.clickhouse())
    pages = int(page.locator("#page-info").inner_text().split(" of ")[1].split()[0])
    shown: dict = {}
    for number in range(pages):  # traded symbols first: stop at the first page that ends with an untraded one
        rows = visible_totals(page)
        shown.update(rows)
        if any(cells[2] == "0" for cells in rows.values()) or number == pages - 1:
            break
        page.click("#next-page")
    traded = {symbol: cells for symbol, cells in shown.items() if cells[2] != "0"}
    assert set(traded) == set(tally.trades)
    for symbol, cells in traded.items():
        volume = tally.volume_cents[symbol]
        assert [cells[2], cells[3], cells[4]] == [
            f"{tally.trades[symbol]:,}", f"{tally.shares[symbol]:,}", f"${volume // 100:,}.{volume % 100:02d}"], symbol
        assert cells[0] == expected_cells(snapshot.totals[symbol])[0], symbol
        assert cells[6] == f"{whales.get(symbol, 0):,}", symbol
    header_trades = int(page.locator("#total-trades").inner_text().replace(",", ""))
    assert header_trades == tally.count
    volume = sum(tally.volume_cents.values())
    expect(page.locator("#total-volume")).to_have_text(f"${volume // 100:,}.{volume % 100:02d}")


def wait_idle(pipeline: Pipeline, expected: int, page) -> None:
    assert pipeline.wait_for(expected) == expected
    client = pipeline.clickhouse()
    deadline = time.monotonic() + 60
    while client.command("SELECT sum(whales) + sum(minnows) FROM symbol_sentiment") < expected:
        assert time.monotonic() < deadline, "the sentiment job did not catch up"
        time.sleep(0.5)
    # The page has every trade once its header counts them all (updates come ten a second).
    expect(page.locator("#total-trades")).to_have_text(f"{pipeline.tally.count:,}", timeout=30_000)


def test_totals_equal_clickhouse_after_a_stream_also_for_a_page_opened_midstream(site, browser, page):
    pipeline, url = site
    open_dashboard(page, url)
    producer = threading.Thread(target=pipeline.produce, args=(50_000, SYMBOLS), kwargs={"seed": 9})
    producer.start()
    deadline = time.monotonic() + 60
    while pipeline.count() == 0:  # the late page opens once trades are being ingested
        assert time.monotonic() < deadline, "no trade was stored"
        time.sleep(0.05)
    late = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    open_dashboard(late, url)
    producer.join()

    wait_idle(pipeline, 50_000, page)
    assert_page_equals_what_was_sent(page, pipeline)
    assert_page_equals_what_was_sent(late, pipeline)


def test_reconnects_after_daphne_restarts_and_is_exact_again(site, page):
    pipeline, url = site
    pipeline.produce(5_000, SYMBOLS, seed=10)
    open_dashboard(page, url)
    web = pipeline.pools[-1]
    web.terminate()
    web.wait(20)
    expect(page.locator("#connection")).to_have_text("reconnecting", timeout=10_000)
    pipeline.produce(5_000, SYMBOLS, seed=11)
    pipeline.start_web(pipeline.web_port)
    expect(page.locator("#connection")).to_have_text("live", timeout=20_000)
    wait_idle(pipeline, 10_000, page)
    assert_page_equals_what_was_sent(page, pipeline)


def test_the_header_says_when_no_worker_is_running(site, page):
    pipeline, url = site
    open_dashboard(page, url)
    lag = page.locator("#lag")
    expect(lag).to_contain_text("(2 workers)", timeout=10_000)  # ingest and sentiment, one each
    # The web process's count (tests/test_dashboard_status.py), past its feed's first second.
    expect(page.locator("#trades-per-second")).to_have_text(re.compile(r"^\d[\d,]*$"), timeout=10_000)

    assert pipeline.stop(pipeline.pools[0]) == 0  # the supervisor marks its workers stopped
    expect(lag).to_have_text("no workers running", timeout=10_000)
    expect(lag).to_have_class("offline")

    pipeline.start_pool(1, "--job", "ingest")
    expect(lag).to_contain_text("(1 worker)", timeout=30_000)
    expect(lag).not_to_have_class("offline")


def listed_name(url: str, symbol: str) -> str | None:
    with urlopen(f"{url}/api/symbols", timeout=10) as response:
        row = json.load(response)["symbols"].get(symbol)
    return row[contract.Row.NAME] if row else None


def test_html_in_names_is_shown_as_text(site, page, symbol_db):
    pipeline, url = site
    name = '<img src=x onerror="document.body.dataset.pwned=1">Evil & Co <b>bold</b>'
    with sqlite3.connect(symbol_db) as db:
        db.execute("INSERT OR REPLACE INTO trademonitor_symbol (symbol, name, market_category, financial_status, "
                   "is_etf, active, updated_at) VALUES ('EVIL', ?, 'Q', 'N', 0, 1, '2026-01-01')", (name,))
    deadline = time.monotonic() + 10
    while listed_name(url, "EVIL") != name:  # the shared snapshot is kept for a second
        assert time.monotonic() < deadline, "the snapshot never listed EVIL's name"
        time.sleep(0.1)
    open_dashboard(page, url)
    search(page, "EVIL")
    expect(row(page, "EVIL").locator("td.name")).to_have_text(name)
    assert page.evaluate("document.body.dataset.pwned") is None
    assert row(page, "EVIL").locator("td.name img").count() == 0


def test_sql_panel_reads_and_refuses_writes_and_slow_queries(site, page):
    pipeline, url = site
    pipeline.produce(2_000, SYMBOLS, seed=12)
    assert pipeline.wait_for(2_000) == 2_000
    open_dashboard(page, url)
    page.click("#sql-panel summary")
    expect(page.locator("#sql")).to_contain_text("ORDER BY volume DESC")

    def run(sql: str) -> None:
        page.fill("#sql", sql)
        page.click("#run-sql")

    run("SELECT count() AS n FROM trades")
    expect(page.locator("#sql-result td").first).to_have_text("2000")
    for sql, code in [("INSERT INTO trades (symbol) VALUES ('X')", "164"), ("DROP TABLE trades", "164"),
                      ("SELECT 1 SETTINGS readonly = 0", "164"),
                      ("SELECT sum(cityHash64(number)) FROM numbers(10000000000000)", "159")]:
        run(sql)
        expect(page.locator("#sql-error")).to_contain_text(f"Code: {code}", timeout=15_000)
    assert pipeline.count() == 2_000
