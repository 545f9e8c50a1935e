"""The drill-down's first page kept in the web process's memory while a dashboard is
connected (trademonitor.live.NewestTrades): with the real pipeline, every page served
from it is the page ClickHouse holds."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from django.test import Client
from websockets.sync.client import connect

import contract
from clickhouse import queries
from tests.browser import first_pages_from_memory
from tests.conftest import BUNDLED_SYMBOLS, free_port
from tests.mirror import Mirrors
from tests.pipeline import Pipeline
from trademonitor import dashboard
from trademonitor.hub import HUB
from trademonitor.pages import decode_cursor

SYMBOLS = BUNDLED_SYMBOLS[:6]


def first_page(port: int, symbol: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/symbols/{symbol}/trades?limit=50", timeout=10) as r:
        return json.load(r)


def from_memory(port: int) -> float:
    return first_pages_from_memory(f"http://127.0.0.1:{port}")


def socket_pages(port: int, symbols: list[str]) -> dict[str, dict]:
    """The page frames a dashboard's subscribe to `symbols` is answered with, by symbol."""
    with connect(f"ws://127.0.0.1:{port}/ws/live", origin=f"http://127.0.0.1:{port}", max_size=64 << 20) as socket:
        assert json.loads(socket.recv(timeout=30))["type"] == contract.SNAPSHOT
        socket.send(json.dumps({"type": contract.SUBSCRIBE, "symbols": symbols}))
        frames: dict[str, dict] = {}
        while len(frames) < len(symbols):
            frame = json.loads(socket.recv(timeout=30))
            if frame["type"] == contract.PAGE:
                frames[frame["symbol"]] = frame
        return frames


def test_first_pages_kept_in_memory_are_the_pages_clickhouse_holds(symbol_db):
    pipeline = Pipeline(symbol_db)
    mirrors = None
    try:
        port = free_port()
        pipeline.start_web(port)
        pipeline.start_pool(2)
        mirrors = Mirrors(port, 1)  # a dashboard is open: the web process follows the deltas
        mirrors.wait_connected()
        pipeline.produce(600, SYMBOLS, seed=3)  # before the pages are read...
        deadline = time.monotonic() + 60
        while not (first_page(port, SYMBOLS[0]) and from_memory(port)):
            assert time.monotonic() < deadline, "no first page was served from memory"
            time.sleep(0.2)
        pipeline.produce(600, SYMBOLS, seed=4)  # ...and after: kept current by the deltas alone
        pipeline.wait_for(pipeline.tally.count)
        tally = pipeline.tally
        mirrors.wait_equal({s: (n, tally.shares[s], tally.volume_cents[s]) for s, n in tally.trades.items()})

        served = from_memory(port)
        pages = {symbol: first_page(port, symbol) for symbol in SYMBOLS}
        assert from_memory(port) == served + len(SYMBOLS)
        reader = pipeline.clickhouse()
        for symbol, page in pages.items():
            stored = queries.trades_page(reader, symbol, limit=50)
            assert page["trades"] == [dashboard.trade_json(trade) for trade in stored.trades], symbol
            assert len(page["trades"]) == 50 and page["next"] is not None
        # The dashboard's socket answers a drill-down's opening with the same page, and a cursor
        # to the same place (a cursor is signed with the time it was made).
        def position(page: dict) -> tuple:
            return page["symbol"], page["trades"], page["next"] and decode_cursor(page["next"])

        socket = socket_pages(port, [*SYMBOLS, "NOSUCH"])
        assert all(frame["type"] == contract.PAGE for frame in socket.values())
        assert {symbol: position(frame) for symbol, frame in socket.items()} == {
            **{symbol: position(page) for symbol, page in pages.items()},
            "NOSUCH": ("NOSUCH", None, None),  # not kept (the API says 404): the page asks the API
        }
    finally:
        if mirrors is not None:
            mirrors.close()
        pipeline.close()


@pytest.mark.django_db
def test_a_kept_first_page_is_served_without_a_database_query(django_assert_num_queries):
    """The symbol's lookup in Django's database was a query, and with SQLite a connection, for
    every page (design.md). A kept page is answer enough: pages are kept only for listed symbols."""
    listed = BUNDLED_SYMBOLS[0]
    trade = contract.trade_record("00000000-0000-0000-0000-000000000001", 1_700_000_000_000, 2501, 7, 0, 0)
    HUB.newest.begin([listed])
    HUB.newest.read({listed: trade})
    try:
        client = Client(REMOTE_ADDR="198.51.100.21")
        with django_assert_num_queries(0):
            response = client.get(f"/api/symbols/{listed}/trades?limit=1")
        assert response.status_code == 200
        assert response.json()["trades"] == HUB.newest.page(listed, 1)
        with django_assert_num_queries(1):  # no page kept: the lookup says it is not listed
            assert client.get("/api/symbols/NOSUCH/trades").status_code == 404
    finally:
        HUB.newest.clear()
