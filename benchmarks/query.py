"""`bench query`: the dashboard's reads on a large table.

Loads N synthetic trades over 3,000 symbols into a scratch database straight
inside ClickHouse (INSERT … SELECT from numbers(), so the materialized views run
as they do for the workers' inserts), then times the drill-down's first page,
the full snapshot, one hour of candles, and checks the totals. With
`--ingest-rate`, trades keep arriving while it times them, as the workers insert
them: one insert a partition every 100 ms (new parts, and merges beside the reads).
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from clickhouse_connect.driver.client import Client

from benchmarks.stats import percentile
from clickhouse import alerts, queries
from harness.progress import progress
from harness.scratch import scratch_database
from infra.memory import freeze_loaded_objects
from workers.alerts import window_floor

logger = logging.getLogger(__name__)

SYMBOLS = 3000
LOAD_CHUNK = 1_000_000

# Trade n: symbol n mod 3000, spread evenly over the day before `end_ms`, prices a
# per-symbol level plus noise (cents), quantities skewed small, round-robin over three
# partitions from `first_partition`.
LOAD_SQL = """
    INSERT INTO trades (id, ts, symbol, price, quantity, kafka_partition, kafka_offset)
    SELECT
        generateUUIDv4(number),
        fromUnixTimestamp64Milli(toInt64({end_ms:Int64} - ({total:UInt64} - number) * {step_ms:Float64}), 'UTC'),
        concat('S', leftPad(toString(number % {symbols:UInt32}), 4, '0')),
        toDecimal64((1000 + (number % {symbols:UInt32}) * 7 + cityHash64(number) % 500) / 100, 2),
        toUInt32(1 + pow(cityHash64(number, 1) % 1000, 3) / 100000),
        number % 3 + {first_partition:UInt16},
        intDiv(number, 3)
    FROM numbers({start:UInt64}, {count:UInt64})
"""


# The same trades over named symbols (`load(symbols=...)`): the real listings a dashboard shows.
NAMED_SYMBOL = "arrayElement({names:Array(String)}, number % {symbols:UInt32} + 1)"
NAMED_LOAD_SQL = LOAD_SQL.replace("concat('S', leftPad(toString(number % {symbols:UInt32}), 4, '0'))", NAMED_SYMBOL)
if NAMED_LOAD_SQL == LOAD_SQL:
    raise RuntimeError("NAMED_LOAD_SQL's rewrite no longer matches LOAD_SQL")


def load(writer: Client, total: int, symbols: list[str] | None = None, first_partition: int = 0) -> float:
    """`total` trades over SYMBOLS synthetic symbols, or over `symbols`; returns the seconds taken.
    `first_partition`: past the topic's, for trades that a live stream's offsets must not
    appear to count (the dashboard's watermarks)."""
    end_ms = int(time.time() * 1000)
    started = time.perf_counter()
    named = {"names": symbols} if symbols else {}
    with progress(total, "loading trades", "trades") as bar:
        for start in range(0, total, LOAD_CHUNK):
            count = min(LOAD_CHUNK, total - start)
            writer.command(NAMED_LOAD_SQL if symbols else LOAD_SQL, parameters={
                "end_ms": end_ms, "total": total, "step_ms": 86_400_000 / total,
                "symbols": len(symbols) if symbols else SYMBOLS, "start": start, "count": count,
                "first_partition": first_partition, **named,
            }, settings={"async_insert": 0, "max_block_size": LOAD_CHUNK, "min_insert_block_size_rows": LOAD_CHUNK})
            bar.update(count)
    return time.perf_counter() - started


# A key that sorts after every real trade: the keyset query's first page.
END_OF_TIME = dt.datetime(2299, 12, 31, tzinfo=dt.UTC)
LAST_UUID = UUID(int=(1 << 128) - 1)

# The drill-down's first page written other ways, each timed beside the project's
# (clickhouse/queries.py TRADES_FIRST_PAGE_SQL): which the engine serves fastest. Run as the
# writer, whose profile lets a query change settings (the read-only user's does not),
# the project's query too, so that all are timed alike. `keyset` is the later pages' query
# started from a key past every trade, as the first page was read until 16acc71.
DRILLDOWN_VARIANTS = {
    "as_is": (queries.TRADES_FIRST_PAGE_SQL, {}),
    "keyset": (queries.TRADES_PAGE_SQL, {}),
    "expanded_keyset": (queries.TRADES_PAGE_SQL.replace(
        "WHERE (ts, id) < ({before_ts:DateTime64(3, 'UTC')}, {before_id:UUID})",
        "WHERE ts < {before_ts:DateTime64(3, 'UTC')} OR (ts = {before_ts:DateTime64(3, 'UTC')} "
        "AND id < {before_id:UUID})"), {}),
    "where_symbol": (queries.TRADES_FIRST_PAGE_SQL.replace("PREWHERE symbol", "WHERE symbol"), {}),
    "no_read_in_order": (queries.TRADES_FIRST_PAGE_SQL, {"optimize_read_in_order": 0}),
}
_REWRITTEN = [sql for sql, extra in DRILLDOWN_VARIANTS.values() if not extra]
if len(set(_REWRITTEN)) != len(_REWRITTEN):
    raise RuntimeError("a drill-down variant's rewrite no longer changes the query it starts from")

INGEST_EVERY_SECONDS = 0.1
PARTITIONS = 3

# `trades` is partitioned by month, and the loaded day ends now: on a month's first day it
# spans two partitions, whose parts a drill-down reads and merges apart. Reported with the
# figures, so that runs on different days are compared knowing it.
MONTHS_SQL = """
    SELECT uniqExact(partition) FROM system.parts
    WHERE database = currentDatabase() AND table = 'trades' AND active
"""


@contextmanager
def ingesting(database: str, loaded: int, rate: int) -> Iterator[list[int]]:
    """Trades inserted at `rate` a second while the block runs, as the workers do: every
    INGEST_EVERY_SECONDS one insert a partition. Yields the count inserted so far (a list
    of one), which the caller reads after the block."""
    import clickhouse_connect
    from django.conf import settings

    from clickhouse.connection import client_settings

    inserted = [0]
    stop = threading.Event()
    per_insert = max(1, int(rate * INGEST_EVERY_SECONDS / PARTITIONS))

    def insert() -> None:
        client = clickhouse_connect.get_client(**client_settings(settings.CLICKHOUSE_URL, database=database))
        end_ms = int(time.time() * 1000)
        while not stop.wait(INGEST_EVERY_SECONDS):
            for _ in range(PARTITIONS):
                client.command(LOAD_SQL, parameters={
                    "end_ms": end_ms, "total": loaded, "step_ms": 86_400_000 / loaded, "symbols": SYMBOLS,
                    "start": loaded + inserted[0], "count": per_insert, "first_partition": 0},
                    settings={"async_insert": 0})
                inserted[0] += per_insert

    thread = threading.Thread(target=insert, daemon=True)
    if rate:
        thread.start()
    try:
        yield inserted
    finally:
        stop.set()
        if rate:
            thread.join(30)


def run(trades: int, samples: int = 200, ingest_rate: int = 0, seed: int = 7) -> dict:
    rng = random.Random(seed)
    symbols = [f"S{i:04d}" for i in range(SYMBOLS)]
    with scratch_database() as (database, writer, reader):
        load_seconds = load(writer, trades)
        logger.info("loaded %d trades in %.1f s", trades, load_seconds)
        # These are the web process's reads, and it runs them with what it loaded frozen
        # (trademonitor/asgi.py): timed the same way, not behind this process's collector.
        # Thawed afterwards: the benchmarks a suite runs next in this process are not.
        freeze_loaded_objects()
        try:
            with ingesting(database, trades, ingest_rate) as inserted:
                figures = _time_reads(reader, writer, rng, symbols, samples)
        finally:
            gc.unfreeze()
        figures["totals_exact"] = queries.totals_check(reader) == []
        figures["symbols"] = len(queries.snapshot(reader).totals)
        figures["month_partitions"] = writer.command(MONTHS_SQL)
    return {"trades": trades, "ingest_rate": ingest_rate, "inserted_beside": inserted[0],
            "load_seconds": round(load_seconds, 1), **figures}


def _time_reads(reader: Client, writer: Client, rng: random.Random, symbols: list[str], samples: int) -> dict:
    def timed(call: Callable[[], Any]) -> float:
        started = time.perf_counter()
        call()
        return (time.perf_counter() - started) * 1000

    queries.snapshot(reader)  # warm-up
    drilldown = [timed(lambda: queries.trades_page(reader, rng.choice(symbols), limit=50)) for _ in range(samples)]
    variants = {name: [timed(functools.partial(_first_page, writer, sql, extra, rng.choice(symbols)))
                       for _ in range(samples)]
                for name, (sql, extra) in DRILLDOWN_VARIANTS.items()}
    snapshots = [timed(lambda: queries.snapshot(reader)) for _ in range(max(20, samples // 4))]
    now = dt.datetime.now(dt.UTC)
    candle_times = [
        timed(lambda: queries.candles(reader, rng.choice(symbols), now - dt.timedelta(hours=1), now))
        for _ in range(samples)
    ]
    # The alerts job's query: one closed 5-minute window, and a whole day of them (a backlog).
    window = dt.timedelta(minutes=5)
    starts = [window_floor(now - dt.timedelta(minutes=rng.randint(10, 1430)), window) for _ in range(samples // 4)]
    alert_times = [timed(functools.partial(alerts.window_leaders, reader, start, start + window, 5))
                   for start in starts]
    alert_day_ms = timed(lambda: alerts.window_leaders(reader, now - dt.timedelta(days=1), now, 5))
    return {
        "drilldown_p50_ms": round(percentile(drilldown, 0.5), 2),
        "drilldown_p99_ms": round(percentile(drilldown, 0.99), 2),
        **{f"drilldown_{name}_p99_ms": round(percentile(times, 0.99), 2) for name, times in variants.items()},
        "snapshot_p50_ms": round(percentile(snapshots, 0.5), 2),
        "snapshot_p99_ms": round(percentile(snapshots, 0.99), 2),
        "candles_p99_ms": round(percentile(candle_times, 0.99), 2),
        "alert_window_p99_ms": round(percentile(alert_times, 0.99), 2),
        "alert_day_of_windows_ms": round(alert_day_ms, 1),
    }


def _first_page(client: Client, sql: str, extra: dict, symbol: str) -> None:
    client.query(sql, parameters={"symbol": symbol, "before_ts": END_OF_TIME, "before_id": LAST_UUID,
                                  "limit": 50}, settings=extra)
