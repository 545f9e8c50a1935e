"""Every read of the trade data: the dashboard snapshot, the drill-down, candles and
the consistency check. Parameterized SQL only: user input reaches ClickHouse as a
bound parameter, never as SQL text.

Why `snapshot()` is safe to apply deltas to
-------------------------------------------
`symbol_totals` is keyed by (symbol, Kafka partition) and carries, per row, the
highest Kafka offset its trades came from. `snapshot()` reads totals *and* those
offsets ("watermarks") in one SELECT of that one table, and a SELECT reads one
fixed set of parts, so the watermarks describe exactly the trades in the totals.
A worker's insert reaches `symbol_totals` as one block (one part), so a snapshot
holds all of an insert or none of it. Offsets grow along a partition and a
partition's batches are inserted in order, so a delta whose offsets for its
partition are at or below the snapshot's watermark is already counted, and one
above it is not counted at all. Applying only the latter counts every trade once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from clickhouse_connect.driver.client import Client

MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class SymbolTotals:
    symbol: str
    trades: int
    shares: int
    volume: Decimal
    last_price: Decimal
    last_trade_at: dt.datetime
    # The latest trade's place in the total order of trades: (epoch ms, partition, offset).
    last_key: tuple[int, int, int]


@dataclass(frozen=True)
class Snapshot:
    totals: dict[str, SymbolTotals]
    # Kafka partition -> highest offset whose trade the totals include.
    watermarks: dict[int, int]


@dataclass(frozen=True)
class Trade:
    id: UUID
    ts: dt.datetime
    symbol: str
    price: Decimal
    quantity: int

    @property
    def key(self) -> TradeKey:
        """The trade's place in the drill-down's order: (epoch ms, id)."""
        return int(self.ts.timestamp() * 1000), self.id


TradeKey = tuple[int, UUID]


@dataclass(frozen=True)
class TradesPage:
    trades: list[Trade]
    # Pass as `before` to get the next (older) page; None on the last page.
    next_key: TradeKey | None


@dataclass(frozen=True)
class Candle:
    start: dt.datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    shares: int
    volume: Decimal
    trades: int


# Two groupings in one pass over one set of parts: per symbol (the totals) and
# per partition (the watermarks). grouping(symbol) is 1 on the per-partition rows.
_ORDER_KEY = ("bitShiftLeft(toUInt128(toUnixTimestamp64Milli(ts)), 80)"
              " + bitShiftLeft(toUInt128(kafka_partition), 64) + kafka_offset")

SNAPSHOT_SQL = """
    SELECT grouping(symbol), symbol, kafka_partition,
           sum(trades), sum(shares), sum(volume),
           argMaxMerge(last_price), max(last_key), max(max_offset)
    FROM symbol_totals
    GROUP BY GROUPING SETS ((symbol), (kafka_partition))
"""


def snapshot(client: Client) -> Snapshot:
    """Every symbol's totals and latest price, with the watermarks they reflect."""
    totals: dict[str, SymbolTotals] = {}
    watermarks: dict[int, int] = {}
    rows = client.query(SNAPSHOT_SQL).result_rows
    for is_partition_row, symbol, partition, trades, shares, volume, last_price, last_key, max_offset in rows:
        if is_partition_row:
            watermarks[partition] = max_offset
        else:
            key = decode_order_key(last_key)
            at = dt.datetime.fromtimestamp(key[0] / 1000, dt.UTC)
            totals[symbol] = SymbolTotals(symbol, trades, shares, volume, last_price, at, key)
    return Snapshot(totals, watermarks)


SENTIMENT_SNAPSHOT_SQL = """
    SELECT grouping(symbol), symbol, kafka_partition, sum(whales), max(max_offset)
    FROM symbol_sentiment
    GROUP BY GROUPING SETS ((symbol), (kafka_partition))
"""


def sentiment_snapshot(client: Client) -> tuple[dict[str, int], dict[int, int]]:
    """Whales per symbol and the watermarks they reflect (one SELECT, as for `snapshot`)."""
    whales: dict[str, int] = {}
    watermarks: dict[int, int] = {}
    for is_partition_row, symbol, partition, count, max_offset in client.query(SENTIMENT_SNAPSHOT_SQL).result_rows:
        if is_partition_row:
            watermarks[partition] = max_offset
        else:
            whales[symbol] = count
    return whales, watermarks


def decode_order_key(key: int) -> tuple[int, int, int]:
    """(epoch ms, partition, offset) from an order key (migration 0002 packs them)."""
    return key >> 80, (key >> 64) & 0xFFFF, key & 0xFFFF_FFFF_FFFF_FFFF


INGESTED_OFFSETS_SQL = "SELECT kafka_partition, max(max_offset) FROM symbol_totals GROUP BY kafka_partition"
SENTIMENT_OFFSETS_SQL = "SELECT kafka_partition, max(max_offset) FROM symbol_sentiment GROUP BY kafka_partition"


def ingested_offsets(client: Client) -> dict[int, int]:
    """Kafka partition -> highest offset stored in `trades` (where ingestion resumes)."""
    return {int(partition): int(offset) for partition, offset in client.query(INGESTED_OFFSETS_SQL).result_rows}


def sentiment_offsets(client: Client) -> dict[int, int]:
    """Kafka partition -> highest offset the sentiment job stored (where it resumes)."""
    return {int(partition): int(offset) for partition, offset in client.query(SENTIMENT_OFFSETS_SQL).result_rows}


# The newest page has no key to start before. Written without one rather than with a key past
# every trade, and with the symbol as an explicit PREWHERE: each saved the engine's analysis
# about 1 ms a page at p50 (docs/benchmarks/design.md).
TRADES_FIRST_PAGE_SQL = """
    SELECT id, ts, symbol, price, quantity
    FROM trades
    PREWHERE symbol = {symbol:String}
    ORDER BY ts DESC, id DESC
    LIMIT {limit:UInt32}
"""

TRADES_PAGE_SQL = """
    SELECT id, ts, symbol, price, quantity
    FROM trades
    PREWHERE symbol = {symbol:String}
    WHERE (ts, id) < ({before_ts:DateTime64(3, 'UTC')}, {before_id:UUID})
    ORDER BY ts DESC, id DESC
    LIMIT {limit:UInt32}
"""


def trades_page(client: Client, symbol: str, before: TradeKey | None = None, limit: int = 50) -> TradesPage:
    """One page of `symbol`'s trades, most recent first (keyset pagination on (ts, id)):
    those before the key `before`, or the newest. Raises ValueError for a limit out of range."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}")
    if before is None:
        rows = client.query(TRADES_FIRST_PAGE_SQL, parameters={"symbol": symbol, "limit": limit}).result_rows
    else:
        before_ts = dt.datetime.fromtimestamp(before[0] / 1000, dt.UTC)
        rows = client.query(TRADES_PAGE_SQL, parameters={
            "symbol": symbol, "before_ts": before_ts, "before_id": before[1], "limit": limit}).result_rows
    trades = [Trade(*row) for row in rows]
    return TradesPage(trades, trades[-1].key if len(trades) == limit else None)


# Each symbol's newest trades, as the first page would show them (the web keeps them in
# memory, trademonitor.live.NewestTrades), in the wire's integers: [id, epoch ms, price
# cents, quantity, partition, offset], contract.trade_record's arguments.
NEWEST_TRADES_SQL = """
    SELECT symbol, toString(id), toUnixTimestamp64Milli(ts), toInt64(price * 100), quantity,
           kafka_partition, kafka_offset
    FROM trades
    WHERE symbol IN {symbols:Array(String)}
    ORDER BY symbol, ts DESC, id DESC
    LIMIT {per_symbol:UInt32} BY symbol
"""


def newest_trades(client: Client, symbols: list[str], per_symbol: int) -> dict[str, list[list[Any]]]:
    """Up to `per_symbol` of each of `symbols`' newest trades, newest first (symbols without
    trades left out)."""
    newest: dict[str, list[list[Any]]] = {}
    rows = client.query(NEWEST_TRADES_SQL, parameters={"symbols": symbols, "per_symbol": per_symbol}).result_rows
    for symbol, *trade in rows:
        newest.setdefault(symbol, []).append(trade)
    return newest


# Candles of 1, 5 or 15 minutes from the one-minute ones: argMin/argMax states merge
# across minutes to the interval's first and last trade.
CANDLE_INTERVALS = (1, 5, 15)
CANDLES_SQL = """
    SELECT toStartOfInterval(minute, toIntervalMinute({interval:UInt8})) AS start,
           argMinMerge(open), max(high), min(low), argMaxMerge(close),
           sum(shares), sum(volume), sum(trades)
    FROM candles_1m
    WHERE symbol = {symbol:String}
      AND minute >= {start:DateTime('UTC')} AND minute < {end:DateTime('UTC')}
    GROUP BY start
    ORDER BY start
"""


def check_interval(interval: int) -> None:
    """ValueError unless `interval` is one of CANDLE_INTERVALS (minutes)."""
    if interval not in CANDLE_INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(map(str, CANDLE_INTERVALS))} minutes")


def candles(client: Client, symbol: str, start: dt.datetime, end: dt.datetime, interval: int = 1) -> list[Candle]:
    """`symbol`'s candles of `interval` minutes (one of CANDLE_INTERVALS) for minutes in [start, end)."""
    check_interval(interval)
    parameters = {"symbol": symbol, "start": start, "end": end, "interval": interval}
    return [Candle(*row) for row in client.query(CANDLES_SQL, parameters=parameters).result_rows]


# The export: a symbol's trades as CSV, written by ClickHouse (money with its two decimals
# by toDecimalString, never a float), walked in the drill-down's order in pages of at most
# EXPORT_PAGE rows, each within the read-only user's max_result_rows.
EXPORT_PAGE = 50_000
EXPORT_CSV_SQL = """
    SELECT id,
           concat(replaceOne(toString(ts), ' ', 'T'), 'Z'),
           symbol,
           toDecimalString(price, 2),
           quantity,
           toDecimalString(toDecimal128(price, 2) * quantity, 2)  -- as the views: no Decimal64 overflow
    FROM trades
    WHERE symbol = {symbol:String}
      AND ts >= {start:DateTime64(3, 'UTC')}
      AND (ts, id) < ({before_ts:DateTime64(3, 'UTC')}, {before_id:UUID})
    ORDER BY ts DESC, id DESC
    LIMIT {limit:UInt32}
"""
EXPORT_COLUMNS = ("trade_id", "time_utc", "symbol", "price", "quantity", "value")


def trades_csv(client: Client, symbol: str, start: dt.datetime, end: dt.datetime, limit: int) -> Iterator[bytes]:
    """`symbol`'s trades with start <= ts < end, most recent first, at most `limit`, as CSV
    lines (no header) in the chunks ClickHouse sends. Each page starts after the last line of
    the one before (keyset on (ts, id)), so no trade of the range is repeated or skipped."""
    before: tuple[dt.datetime, UUID] = (end, UUID(int=0))
    while limit > 0:
        page = min(limit, EXPORT_PAGE)
        parameters = {"symbol": symbol, "start": start, "before_ts": before[0], "before_id": before[1],
                      "limit": page}
        lines, tail = 0, b""
        with client.raw_stream(EXPORT_CSV_SQL, parameters=parameters, fmt="CSV") as stream:
            for chunk in stream:
                yield chunk
                lines += chunk.count(b"\n")
                tail = (tail + chunk)[-1024:]
        if lines < page:
            return
        limit -= lines
        before = _csv_key(tail.rstrip(b"\n").rsplit(b"\n", 1)[-1])


def _csv_key(line: bytes) -> tuple[dt.datetime, UUID]:
    """(ts, id) of an export line: "id","2026-11-28T15:04:05.123Z",..."""
    trade_id, moment = (field.strip(b'"').decode() for field in line.split(b",", 2)[:2])
    return dt.datetime.fromisoformat(moment.replace("Z", "+00:00")), UUID(trade_id)


# A symbol missing on one side reads as zeros there (the read-only user may not set
# join_use_nulls): never equal to the other side's, which counts at least one trade.
TOTALS_CHECK_SQL = f"""
    SELECT symbol,
           kept.trades, recomputed.trades, kept.shares, recomputed.shares,
           kept.volume, recomputed.volume, kept.last_trade, recomputed.last_trade
    FROM
    (
        SELECT symbol, sum(trades) AS trades, sum(shares) AS shares, sum(volume) AS volume,
               (max(last_key), argMaxMerge(last_price)) AS last_trade
        FROM symbol_totals GROUP BY symbol
    ) AS kept
    FULL OUTER JOIN
    (
        SELECT symbol, count() AS trades, sum(quantity) AS shares, sum(toDecimal128(price, 2) * quantity) AS volume,
               (max({_ORDER_KEY}), argMax(price, {_ORDER_KEY})) AS last_trade
        FROM trades GROUP BY symbol
    ) AS recomputed USING (symbol)
    WHERE kept.trades != recomputed.trades OR kept.shares != recomputed.shares
       OR kept.volume != recomputed.volume OR kept.last_trade != recomputed.last_trade
    ORDER BY symbol
"""


def totals_check(client: Client) -> list[dict[str, Any]]:
    """Symbols whose kept totals differ from totals recomputed from `trades`
    (an empty list means the two agree exactly)."""
    return _differences(client, TOTALS_CHECK_SQL, ("symbol",), ("trades", "shares", "volume", "last_trade"))


CANDLES_CHECK_SQL = f"""
    SELECT symbol, minute,
           kept.trades, recomputed.trades, kept.shares, recomputed.shares,
           kept.volume, recomputed.volume, kept.prices, recomputed.prices
    FROM
    (
        SELECT symbol, minute, sum(trades) AS trades, sum(shares) AS shares, sum(volume) AS volume,
               (argMinMerge(open), max(high), min(low), argMaxMerge(close)) AS prices
        FROM candles_1m GROUP BY symbol, minute
    ) AS kept
    FULL OUTER JOIN
    (
        SELECT symbol, toStartOfMinute(ts) AS minute, count() AS trades, sum(quantity) AS shares,
               sum(toDecimal128(price, 2) * quantity) AS volume,
               (argMin(price, {_ORDER_KEY}), max(price), min(price), argMax(price, {_ORDER_KEY})) AS prices
        FROM trades GROUP BY symbol, minute
    ) AS recomputed USING (symbol, minute)
    WHERE kept.trades != recomputed.trades OR kept.shares != recomputed.shares
       OR kept.volume != recomputed.volume OR kept.prices != recomputed.prices
    ORDER BY symbol, minute
"""


def candles_check(client: Client) -> list[dict[str, Any]]:
    """Symbols' minutes whose kept candle differs from the one recomputed from `trades`
    (open, high, low and close in `prices`); an empty list means they agree exactly."""
    return _differences(client, CANDLES_CHECK_SQL, ("symbol", "minute"), ("trades", "shares", "volume", "prices"))


SENTIMENT_CHECK_SQL = """
    SELECT symbol, kafka_partition, kept.whales, recomputed.whales, kept.minnows, recomputed.minnows
    FROM
    (
        SELECT symbol, kafka_partition, sum(whales) AS whales, sum(minnows) AS minnows
        FROM symbol_sentiment GROUP BY symbol, kafka_partition
    ) AS kept
    FULL OUTER JOIN
    (
        SELECT symbol, kafka_partition, countIf(sentiment = 'WHALE') AS whales, countIf(sentiment = 'MINNOW') AS minnows
        FROM trade_sentiment GROUP BY symbol, kafka_partition
    ) AS recomputed USING (symbol, kafka_partition)
    WHERE kept.whales != recomputed.whales OR kept.minnows != recomputed.minnows
    ORDER BY symbol, kafka_partition
"""


def sentiment_check(client: Client) -> list[dict[str, Any]]:
    """Symbols' partitions whose kept whale and minnow counts differ from those recomputed
    from `trade_sentiment`; an empty list means they agree exactly."""
    return _differences(client, SENTIMENT_CHECK_SQL, ("symbol", "kafka_partition"), ("whales", "minnows"))


def _differences(client: Client, sql: str, keys: tuple[str, ...], fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """The rows of a check query (its keys, then a kept and a recomputed value per field)
    as {key: value, ..., field: {"kept": ..., "recomputed": ...}, ...}."""
    differences = []
    for row in client.query(sql).result_rows:
        pairs = row[len(keys):]
        differences.append({
            **dict(zip(keys, row, strict=False)),
            **{name: {"kept": pairs[2 * i], "recomputed": pairs[2 * i + 1]} for i, name in enumerate(fields)},
        })
    return differences
