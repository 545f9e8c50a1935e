"""The ClickHouse schema, its migrations and the query layer, on the real engine."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import replace
from decimal import Decimal

import clickhouse_connect
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError
from django.conf import settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import contract
from clickhouse import ledger, native, queries
from clickhouse.connection import client_settings
from clickhouse.migrate import Migration, MigrationError, Migrator
from clickhouse.writer import INSERT_SETTINGS, TRADE_COLUMNS, TRADE_WIRE_TYPES, insert_settings
from tests.trades_data import EPOCH, insert, make_trade
from trademonitor import dashboard

pytestmark = pytest.mark.services

def expected_totals(trades: list[tuple]) -> dict:
    totals: dict[str, dict] = {}
    for _trade_id, ts, symbol, price, quantity, partition, offset in trades:
        entry = totals.setdefault(symbol, {"trades": 0, "shares": 0, "volume": Decimal(0), "last": None})
        entry["trades"] += 1
        entry["shares"] += quantity
        entry["volume"] += price * quantity
        entry["last"] = max(entry["last"] or (ts, partition, offset, price), (ts, partition, offset, price))
    return totals


def expected_candles(trades: list[tuple]) -> dict:
    minutes: dict[tuple, list] = defaultdict(list)
    for trade in trades:
        minutes[(trade[2], trade[1].replace(second=0, microsecond=0))].append(trade)
    candles = {}
    for key, group in minutes.items():
        ordered = sorted(group, key=lambda t: (t[1], t[5], t[6]))
        candles[key] = queries.Candle(
            start=key[1], open=ordered[0][3], high=max(t[3] for t in group), low=min(t[3] for t in group),
            close=ordered[-1][3], shares=sum(t[4] for t in group),
            volume=sum((t[3] * t[4] for t in group), Decimal(0)), trades=len(group),
        )
    return candles


def assert_aggregates_match(reader, trades: list[tuple]) -> None:
    snapshot = queries.snapshot(reader)
    expected = expected_totals(trades)
    assert {
        symbol: (t.trades, t.shares, t.volume, t.last_price, t.last_trade_at) for symbol, t in snapshot.totals.items()
    } == {
        symbol: (e["trades"], e["shares"], e["volume"], e["last"][3], e["last"][0]) for symbol, e in expected.items()
    }
    watermarks: dict[int, int] = {}
    for trade in trades:
        watermarks[trade[5]] = max(watermarks.get(trade[5], -1), trade[6])
    assert snapshot.watermarks == watermarks
    for volume in (t.volume for t in snapshot.totals.values()):
        assert isinstance(volume, Decimal)

    candles = {}
    for symbol in expected:
        for candle in queries.candles(reader, symbol, EPOCH - dt.timedelta(days=1), EPOCH + dt.timedelta(days=1)):
            candles[(symbol, candle.start)] = candle
    assert candles == expected_candles(trades)
    assert queries.totals_check(reader) == []
    assert queries.candles_check(reader) == []


trade_fields = st.tuples(
    st.sampled_from(["AAPL", "MSFT", "ENTG", "ZZZZ"]),
    st.integers(0, 5 * 60_000),  # five minutes of milliseconds, so candles and ties occur
    st.integers(1, 10_000_000),  # price in cents
    st.integers(1, 1_000_000),   # quantity
    st.integers(0, 2),           # Kafka partition
)


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.lists(trade_fields, min_size=1, max_size=60), cuts=st.lists(st.integers(1, 59), max_size=8))
def test_totals_and_candles_equal_python_arithmetic(schema, fields, cuts):
    writer, reader = schema
    for table in ("trades", "symbol_totals", "candles_1m"):
        writer.command(f"TRUNCATE TABLE {table}")
    next_offset = [0, 0, 0]
    trades = []
    for symbol, ms, cents, quantity, partition in fields:
        trades.append(make_trade(symbol, ms, cents, quantity, partition, next_offset[partition]))
        next_offset[partition] += 1
    bounds = sorted({0, len(trades), *(c for c in cuts if c < len(trades))})
    for start, end in zip(bounds, bounds[1:], strict=False):
        insert(writer, trades[start:end])

    assert_aggregates_match(reader, trades)
    for table in ("symbol_totals", "candles_1m"):
        writer.command(f"OPTIMIZE TABLE {table} FINAL")
    assert_aggregates_match(reader, trades)


def test_retried_insert_changes_nothing(schema):
    writer, reader = schema
    batch = [make_trade("AAPL", i, 10_000 + i, 10, i % 3, i) for i in range(100)]
    insert(writer, batch, token="trades-0-0-99")
    before = (queries.snapshot(reader), queries.candles(reader, "AAPL", EPOCH, EPOCH + dt.timedelta(hours=1)))

    insert(writer, batch, token="trades-0-0-99")  # the retry of a request whose answer was lost

    assert writer.command("SELECT count() FROM trades") == 100
    assert (queries.snapshot(reader), queries.candles(reader, "AAPL", EPOCH, EPOCH + dt.timedelta(hours=1))) == before
    assert_aggregates_match(reader, batch)


def test_a_retry_cut_into_other_blocks_is_appended_so_the_cut_is_pinned(schema):
    """Why clickhouse/writer.py pins every block-size setting: ClickHouse deduplicates a
    retry block by block (token_0, token_1, ...), so the same rows with the same token, cut
    differently, are partly stored again. Here the retry arrives as two Native blocks."""
    writer, _reader = schema
    ms = int(EPOCH.timestamp() * 1000)
    wire = [[str(uuid.uuid4()) for _ in range(10)], [ms + i for i in range(10)], ["AAPL"] * 10, [100] * 10,
            [1] * 10, [0] * 10, list(range(10))]

    def blocks(*cuts: slice) -> bytes:
        return b"".join(native.block(list(zip(TRADE_COLUMNS, TRADE_WIRE_TYPES, [c[cut] for c in wire], strict=True)))
                        for cut in cuts)

    for body in (blocks(slice(0, 10)), blocks(slice(0, 4), slice(4, 10))):
        writer.raw_insert("trades", TRADE_COLUMNS, insert_block=body, fmt="Native",
                          settings=insert_settings("trades-0-0-9"))
    assert writer.command("SELECT count() FROM trades") == 16  # 10, then the retry's second block again
    assert {"max_insert_block_size", "max_insert_block_size_bytes", "min_insert_block_size_rows",
            "min_insert_block_size_bytes", "min_insert_block_size_rows_for_materialized_views",
            "min_insert_block_size_bytes_for_materialized_views"} <= INSERT_SETTINGS.keys()


def test_the_ledger_keeps_the_latest_state_of_each_job_and_partition(schema):
    writer, _reader = schema
    pending = ledger.Entry(1, 100, 199, ledger.State.PENDING)
    ledger.record(writer, "ingest", "trades", [pending, ledger.Entry(2, 5, 9, ledger.State.DONE)])
    ledger.record(writer, "sentiment", "trades", [ledger.Entry(1, 0, 99, ledger.State.DONE)])
    assert ledger.read(writer, "ingest", "trades") == {1: pending, 2: ledger.Entry(2, 5, 9, ledger.State.DONE)}

    ledger.record(writer, "ingest", "trades", [replace(pending, state=ledger.State.DONE)])
    ledger.record(writer, "ingest", "trades", [ledger.Entry(1, 200, 250, ledger.State.PENDING)])

    assert ledger.read(writer, "ingest", "trades")[1] == ledger.Entry(1, 200, 250, ledger.State.PENDING)
    assert ledger.read(writer, "sentiment", "trades") == {1: ledger.Entry(1, 0, 99, ledger.State.DONE)}
    assert ledger.read(writer, "ingest", "other-topic") == {}
    assert writer.command("SELECT count() FROM ingest_ledger") == 3


@pytest.mark.parametrize(("state", "committed", "finished"), [
    (ledger.State.DONE, -1001, True),  # recorded done; no commit (OFFSET_INVALID)
    (ledger.State.PENDING, -1001, False),
    (ledger.State.PENDING, 100, False),  # committed up to the range's start: not inserted for sure
    (ledger.State.PENDING, 199, False),  # the range's last offset not yet committed
    (ledger.State.PENDING, 200, True),  # committed past it: the insert completed
])
def test_a_range_is_finished_when_done_or_committed_past(state, committed, finished):
    assert ledger.Entry(1, 100, 199, state).finished(committed) is finished


def test_keyset_pages_return_every_trade_once_in_order_despite_ties(schema):
    writer, reader = schema
    # 137 trades on 20 distinct milliseconds: most timestamps are shared.
    trades = [make_trade("TIES", i % 20, 5000, 1, 0, i) for i in range(137)]
    insert(writer, trades)
    insert(writer, [make_trade("OTHER", i, 5000, 1, 1, i) for i in range(10)])

    seen, cursor = [], None
    while True:
        page = queries.trades_page(reader, "TIES", before=cursor, limit=10)
        seen.extend(page.trades)
        if page.next_key is None:
            break
        cursor = page.next_key

    assert sorted(t.id for t in seen) == sorted(t[0] for t in trades)
    assert len(seen) == len({t.id for t in seen}) == 137
    # Most recent first; ties on ts in ClickHouse's own UUID order (not Python's).
    assert [t.id for t in seen] == [row[0] for row in reader.query(
        "SELECT id FROM trades WHERE symbol = 'TIES' ORDER BY ts DESC, id DESC").result_rows]
    assert [t.ts for t in seen] == sorted((t.ts for t in seen), reverse=True)
    assert all(t.symbol == "TIES" for t in seen)


def test_each_symbols_newest_trades_are_its_first_page_in_the_order_the_web_sorts_them(schema):
    writer, reader = schema
    # Most of them share a millisecond, so their ids decide the order, which ClickHouse reads
    # as the last eight bytes first: ids that differ on either side of that line, and random ones.
    crafted = ["00000000-0000-0001-0000-000000000000", "00000000-0000-0000-ffff-000000000000",
               "00000000-0000-0000-0000-000000000001", "10000000-0000-0000-0000-000000000000"]
    ties = [(uuid.UUID(crafted[i]) if i < len(crafted) else uuid.uuid4(), *make_trade("TIES", i % 7, 5000 + i, 1, 0, i)[1:])
            for i in range(80)]
    insert(writer, ties)
    insert(writer, [make_trade("FEW", i, 100, 2, 1, i) for i in range(3)])

    newest = queries.newest_trades(reader, ["TIES", "FEW", "NONE"], per_symbol=contract.FIRST_PAGE)

    assert set(newest) == {"TIES", "FEW"}
    for symbol in ("TIES", "FEW"):
        first_page = [dashboard.trade_json(t) for t in queries.trades_page(reader, symbol, limit=contract.FIRST_PAGE).trades]
        assert [t[:len(contract.Trade)] for t in newest[symbol]] == first_page
        records = [contract.trade_record(*trade) for trade in newest[symbol]]
        assert sorted(records, reverse=True) == records  # the web's order is the page's
    assert len(newest["TIES"]) == contract.FIRST_PAGE and len(newest["FEW"]) == 3
    assert sorted(crafted, key=lambda i: contract.trade_record(i, 0, 0, 0, 0, 0)) == [row[0] for row in reader.query(
        "SELECT toString(id) FROM trades WHERE toString(id) IN {ids:Array(String)} ORDER BY id",
        parameters={"ids": crafted}).result_rows]


@pytest.mark.parametrize("cursor", ["garbage", "W1sxLCJhIl0:abc:def", "", "x" * 5000])
def test_tampered_cursor_is_a_value_error(cursor):
    from trademonitor import pages

    with pytest.raises(ValueError, match="invalid cursor"):
        pages.decode_cursor(cursor)


def test_forged_cursor_with_another_key_is_refused():
    from django.core import signing

    from trademonitor import pages

    forged = signing.dumps([0, str(uuid.uuid4())], key="not-our-secret", salt=pages.CURSOR_SALT)
    with pytest.raises(ValueError, match="invalid cursor"):
        pages.decode_cursor(forged)


def test_a_cursor_gives_back_the_page_position_it_was_made_from():
    from trademonitor import pages

    key = (1583934115727, uuid.uuid4())
    assert pages.decode_cursor(pages.encode_cursor(key)) == key


@pytest.mark.parametrize("limit", [0, -1, queries.MAX_PAGE_SIZE + 1])
def test_limit_out_of_range(schema, limit):
    with pytest.raises(ValueError, match="limit"):
        queries.trades_page(schema[1], "AAPL", limit=limit)


@pytest.mark.parametrize("symbol", ["'; DROP TABLE trades; --", "ÅÄÖ📈", "A" * 10_000, "\\", "{symbol:String}"])
def test_hostile_symbols_find_nothing_and_break_nothing(schema, symbol):
    writer, reader = schema
    insert(writer, [make_trade("AAPL", 0, 100, 1, 0, 0)])

    assert queries.trades_page(reader, symbol).trades == []
    assert queries.candles(reader, symbol, EPOCH, EPOCH + dt.timedelta(hours=1)) == []
    assert writer.command("SELECT count() FROM trades") == 1


def test_totals_check_reports_a_difference(schema):
    writer, reader = schema
    insert(writer, [make_trade("AAPL", 0, 100, 1, 0, 0)])
    writer.command("INSERT INTO symbol_totals (symbol, kafka_partition, trades) VALUES ('AAPL', 0, 1)")

    [difference] = queries.totals_check(reader)
    assert difference["symbol"] == "AAPL"
    assert difference["trades"] == {"kept": 2, "recomputed": 1}


def test_candles_check_reports_a_minute_missing_from_the_candles(schema):
    writer, reader = schema
    insert(writer, [make_trade("AAPL", 0, 100, 1, 0, 0), make_trade("AAPL", 61_000, 250, 2, 0, 1)])
    writer.command("TRUNCATE TABLE candles_1m")  # as if the view's block of the first minute had been lost ...
    insert(writer, [make_trade("AAPL", 62_000, 300, 3, 0, 2)])  # ... and later ones were kept

    [first, second] = queries.candles_check(reader)
    assert (first["symbol"], first["minute"], first["trades"]) == ("AAPL", EPOCH, {"kept": 0, "recomputed": 1})
    assert second["minute"] == EPOCH + dt.timedelta(minutes=1)
    assert second["trades"] == {"kept": 1, "recomputed": 2}
    assert second["prices"]["recomputed"] == (Decimal("2.50"), Decimal("3.00"), Decimal("2.50"), Decimal("3.00"))
    assert queries.totals_check(reader) == []  # the totals were not touched


def test_read_only_user_cannot_insert_or_alter(schema):
    _, reader = schema
    for statement in (
        "INSERT INTO trades (symbol) VALUES ('X')",
        "ALTER TABLE trades DELETE WHERE 1",
        "ALTER TABLE symbol_totals ADD COLUMN x UInt8",
        "TRUNCATE TABLE trades",
    ):
        with pytest.raises(DatabaseError) as error:
            reader.command(statement)
        assert error.value.code == 164


def migration(version: str, sql: str) -> Migration:
    return Migration(version, f"step_{version}", sql)


def test_migrations_apply_once_and_refuse_edited_files(scratch_database):
    steps = [
        migration("0001", "CREATE TABLE IF NOT EXISTS a (n UInt8) ENGINE = MergeTree ORDER BY n;\n"),
        migration("0002", "-- two statements\nCREATE TABLE IF NOT EXISTS b (n UInt8) ENGINE = Memory;\n"
                          "INSERT INTO b VALUES (1);\n"),
    ]
    migrator = Migrator(settings.CLICKHOUSE_URL, scratch_database, steps)

    assert [m.version for m in migrator.plan()] == ["0001", "0002"]
    assert [m.version for m in migrator.apply()] == ["0001", "0002"]
    assert migrator.apply() == [] and migrator.plan() == []
    check = clickhouse_connect.get_client(**client_settings(settings.CLICKHOUSE_URL, database=scratch_database))
    assert check.command("SELECT count() FROM b") == 1  # the second run did not insert again

    edited = [steps[0], migration("0002", steps[1].sql.replace("(1)", "(2)"))]
    with pytest.raises(MigrationError, match="0002_step_0002.sql has changed"):
        Migrator(settings.CLICKHOUSE_URL, scratch_database, edited).apply()

    added = [*steps, migration("0003", "CREATE TABLE IF NOT EXISTS c (n UInt8) ENGINE = Memory;")]
    assert [m.version for m in Migrator(settings.CLICKHOUSE_URL, scratch_database, added).apply()] == ["0003"]


def test_project_migrations_build_a_fresh_database(scratch_database):
    applied = Migrator(settings.CLICKHOUSE_URL, scratch_database).apply()
    check = clickhouse_connect.get_client(**client_settings(settings.CLICKHOUSE_URL, database=scratch_database))
    tables = {row[0] for row in check.query("SELECT name FROM system.tables WHERE database = currentDatabase()")
              .result_rows}

    assert [m.label for m in applied] == ["0001_trades", "0002_symbol_totals", "0003_candles", "0004_sentiment",
                                              "0005_volume_alerts", "0006_ingest_ledger"]
    assert {"trades", "symbol_totals", "symbol_totals_mv", "candles_1m", "candles_1m_mv", "trade_sentiment",
            "symbol_sentiment", "symbol_sentiment_mv", "volume_alerts", "ingest_ledger", "schema_migrations"} <= tables
    for table in ("trades", "symbol_totals", "candles_1m", "trade_sentiment", "symbol_sentiment", "volume_alerts"):
        create = check.command(f"SHOW CREATE TABLE {table}")
        assert "non_replicated_deduplication_window" in create
