"""The dashboard's new server side: candles of 1, 5 and 15 minutes, the CSV export (its
keyset pages, exact money and cap) and the logged-in user's watchlist API."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from clickhouse import queries
from tests.trades_data import EPOCH, insert, make_trade
from trademonitor import api, export
from trademonitor.models import Symbol, WatchlistEntry

DAY = (EPOCH - dt.timedelta(days=1), EPOCH + dt.timedelta(days=1))


@pytest.mark.services
def test_candles_of_five_and_fifteen_minutes_merge_the_minutes_exactly(schema):
    writer, reader = schema
    trades = [make_trade("AAPL", minute * 60_000 + 500, 10_000 + 37 * minute % 900, 1 + minute, 0, minute)
              for minute in range(31)]
    insert(writer, trades)
    for interval in queries.CANDLE_INTERVALS:
        candles = queries.candles(reader, "AAPL", *DAY, interval)
        assert len(candles) == -(-31 // interval)
        for candle in candles:
            inside = [t for t in trades if candle.start <= t[1] < candle.start + dt.timedelta(minutes=interval)]
            prices = [t[3] for t in inside]
            assert (candle.open, candle.close, candle.high, candle.low) == (prices[0], prices[-1], max(prices), min(prices))
            assert (candle.shares, candle.trades) == (sum(t[4] for t in inside), len(inside))
            assert candle.volume == sum(t[3] * t[4] for t in inside)
    with pytest.raises(ValueError, match="interval must be one of 1, 5, 15"):
        queries.candles(reader, "AAPL", *DAY, 2)


def export_rows(reader, symbol: str, start: dt.datetime, end: dt.datetime, limit: int) -> list[list[str]]:
    body = export.HEADER + b"".join(queries.trades_csv(reader, symbol, start, end, limit))
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0] == list(queries.EXPORT_COLUMNS)
    return rows[1:]


@pytest.mark.services
def test_the_export_walks_pages_without_repeating_or_skipping_ties(schema, monkeypatch):
    writer, reader = schema
    monkeypatch.setattr(queries, "EXPORT_PAGE", 7)
    # 40 trades on 8 distinct milliseconds: every page boundary falls inside a tie on ts.
    trades = [make_trade("MSFT", (i // 5) * 1000, 100 + i, 1 + i, i % 3, i) for i in range(40)]
    trades.append(make_trade("MSFT", -3_600_000, 1, 1, 0, 99))  # before the range
    insert(writer, trades)
    start, end = EPOCH - dt.timedelta(minutes=1), EPOCH + dt.timedelta(minutes=1)
    in_one_query = [str(row[0]) for row in reader.query(  # ClickHouse's own order of the range, unpaged
        "SELECT id FROM trades WHERE ts >= {start:DateTime64(3, 'UTC')} ORDER BY ts DESC, id DESC",
        parameters={"start": start}).result_rows]
    assert len(in_one_query) == 40
    assert [row[0] for row in export_rows(reader, "MSFT", start, end, 1_000)] == in_one_query
    assert [row[0] for row in export_rows(reader, "MSFT", start, end, 23)] == in_one_query[:23]
    assert [row[0] for row in export_rows(reader, "MSFT", start, end, 14)] == in_one_query[:14]  # two full pages


@pytest.mark.services
def test_csv_money_is_exact_text_written_by_clickhouse(schema):
    writer, reader = schema
    trades = [make_trade("BRK.A", n, 10 * n + 1, 3 * n + 1, 0, n) for n in range(5)]  # $0.01, $0.11, … $0.41
    trades.append(make_trade("BRK.A", 9, 999_999_999, 4_294_967_295, 1, 0))  # past Decimal64 and a float's 2^53
    insert(writer, trades)
    rows = export_rows(reader, "BRK.A", *DAY, 1_000)
    assert rows[0] == [str(trades[5][0]), "2026-03-11T13:00:00.009Z", "BRK.A", "9999999.99", "4294967295",
                       str(Decimal("9999999.99") * 4_294_967_295)]
    assert rows[1][3:] == ["0.41", "13", "5.33"]  # 0.41 × 13, not 5.329999…
    assert rows[-1][1:] == ["2026-03-11T13:00:00.000Z", "BRK.A", "0.01", "1", "0.01"]
    assert export.filename("A", EPOCH, EPOCH + dt.timedelta(hours=1)) == "A-trades-20260311T1300Z-20260311T1400Z.csv"


def test_the_candles_range_ends_with_the_interval_now_is_in():
    """The chart's time axis is this range (the API returns it), so the current candle is its last."""
    for minutes, interval in ((60, 1), (360, 15), (1440, 5), (7, 5)):
        before = dt.datetime.now(dt.UTC)
        start, end = api._range(minutes, interval)
        after = dt.datetime.now(dt.UTC)
        assert end - start == dt.timedelta(minutes=minutes)
        assert end.timestamp() % (interval * 60) == 0
        assert before < end and end - dt.timedelta(minutes=interval) <= after  # the interval of a moment in between


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["minutes=0", "minutes=1441", "minutes=x", "interval=2", "interval=5&minutes=-5",
                                   "interval=1e3"])
def test_candles_and_csv_refuse_hostile_ranges_with_a_clear_400(query):
    Symbol.objects.create(symbol="AAPL", name="Apple Inc.")
    for path in ("/api/symbols/AAPL/candles", "/api/symbols/AAPL/trades.csv"):
        if path.endswith(".csv") and "interval" in query:
            continue  # the export takes a range only
        response = Client().get(f"{path}?{query}")
        assert response.status_code == 400, (path, query)
        assert "must be" in response.json()["error"]


@pytest.mark.django_db
def test_csv_of_an_unknown_symbol_is_404():
    assert Client().get("/api/symbols/NOPE/trades.csv").status_code == 404


@pytest.mark.django_db
def test_the_watchlist_api_is_for_logged_in_users_with_csrf_and_known_symbols(settings):
    for symbol in ("AAPL", "MSFT"):
        Symbol.objects.create(symbol=symbol, name=symbol)
    anonymous = Client(enforce_csrf_checks=True)
    assert anonymous.get("/api/watchlist").status_code == 401
    assert anonymous.put("/api/watchlist/AAPL").status_code == 403  # CSRF before anything

    trader = User.objects.create_user("trader", password="x-long-password-22")
    other = User.objects.create_user("other", password="x-long-password-22")
    client = Client(enforce_csrf_checks=True)
    client.force_login(trader)
    token = client.get("/").cookies["csrftoken"].value
    assert client.put("/api/watchlist/AAPL").status_code == 403  # no token
    for symbol in ("MSFT", "AAPL", "AAPL"):
        response = client.put(f"/api/watchlist/{symbol}", HTTP_X_CSRFTOKEN=token)
    assert response.json() == {"symbols": ["AAPL", "MSFT"]}
    assert client.put("/api/watchlist/NOPE", HTTP_X_CSRFTOKEN=token).status_code == 404
    assert client.delete("/api/watchlist/MSFT", HTTP_X_CSRFTOKEN=token).json() == {"symbols": ["AAPL"]}
    assert client.post("/api/watchlist/MSFT", HTTP_X_CSRFTOKEN=token).status_code == 405
    assert list(WatchlistEntry.objects.filter(user=other)) == []  # one user's list is not another's

    settings.DASHBOARD_LOGIN_REQUIRED = True  # the same access rules as the rest of the API
    assert anonymous.get("/api/watchlist").status_code == 401
    assert client.get("/api/watchlist").json() == {"symbols": ["AAPL"]}


@pytest.mark.django_db
def test_a_watchlist_is_bounded(monkeypatch):
    from trademonitor import api

    monkeypatch.setattr(api, "MAX_WATCHLIST", 2)
    for symbol in ("A", "B", "C"):
        Symbol.objects.create(symbol=symbol, name=symbol)
    client = Client()
    client.force_login(User.objects.create_user("trader"))
    assert [client.put(f"/api/watchlist/{s}").status_code for s in ("A", "B", "C", "A")] == [200, 200, 400, 200]
