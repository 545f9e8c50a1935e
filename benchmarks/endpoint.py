"""`bench endpoint`: the embedded ClickHouse endpoint against chdb in-process.

Insert throughput of 100,000-row batches into the endpoint, against chdb inserting
the same Native bytes in this process (the ceiling: no HTTP, no serialisation), the
way the endpoint does it: one `INSERT ... FROM INFILE` statement on a tmpfs spool
file. Also chdb's streaming insert (`send_insert`), which the endpoint no longer
uses because it reports some failed inserts as successes: what correctness costs.
The endpoint is measured twice: with the Native bytes sent by `raw_insert` (what
the endpoint itself costs) and with column-oriented Python values that
clickhouse-connect serialises first (what a client pays in all). Latency:
`SELECT 1` round trips.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import clickhouse_connect
from django.conf import settings

from benchmarks.stats import percentile
from clickhouse.connection import client_settings

TABLE_DDL = """
    CREATE TABLE {name} (
        id UUID, ts DateTime64(3, 'UTC'), symbol LowCardinality(String), price Decimal(18, 2),
        quantity UInt32, partition UInt16, offset UInt64
    ) ENGINE = MergeTree ORDER BY (symbol, ts, id)"""
COLUMNS = ["id", "ts", "symbol", "price", "quantity", "partition", "offset"]


def trade_columns(rows: int, seed: int = 1) -> list[list]:
    rng = random.Random(seed)
    symbols = [f"S{i:04d}" for i in range(3000)]
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return [
        [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(rows)],
        [start + dt.timedelta(milliseconds=i) for i in range(rows)],
        [rng.choice(symbols) for _ in range(rows)],
        [Decimal(rng.randint(100, 500_000)) / 100 for _ in range(rows)],
        [rng.randint(1, 10_000) for _ in range(rows)],
        [i % 3 for i in range(rows)],
        list(range(rows)),
    ]


def run(batch_rows: int = 100_000, batches: int = 20, pings: int = 2000) -> dict:
    database = f"bench_{uuid.uuid4().hex[:8]}"
    admin = clickhouse_connect.get_client(**client_settings(settings.CLICKHOUSE_URL))
    admin.command(f"CREATE DATABASE {database}")
    try:
        client = clickhouse_connect.get_client(**client_settings(settings.CLICKHOUSE_URL, database=database))
        client.command(TABLE_DDL.format(name="trades"))
        columns = trade_columns(batch_rows)

        client.insert("trades", columns, column_names=COLUMNS, column_oriented=True)  # warm-up
        started = time.perf_counter()
        for _ in range(batches):
            client.insert("trades", columns, column_names=COLUMNS, column_oriented=True)
        endpoint_seconds = time.perf_counter() - started
        native = client.raw_query(f"SELECT * FROM trades LIMIT {batch_rows} FORMAT Native")
        started = time.perf_counter()
        for _ in range(batches):
            client.raw_insert("trades", COLUMNS, insert_block=native, fmt="Native")
        raw_seconds = time.perf_counter() - started

        in_process_seconds, streamed_seconds = _in_process_inserts(native, batches)

        latencies = []
        for _ in range(pings):
            t0 = time.perf_counter()
            client.command("SELECT 1")
            latencies.append((time.perf_counter() - t0) * 1000)
    finally:
        admin.command(f"DROP DATABASE IF EXISTS {database} SYNC")

    rows = batch_rows * batches
    in_process_rate = rows / in_process_seconds
    return {
        "batch_rows": batch_rows,
        "batches": batches,
        "native_bytes_per_batch": len(native),
        "in_process_rows_per_s": round(in_process_rate),
        "in_process_streamed_rows_per_s": round(rows / streamed_seconds),
        # The endpoint's own cost: the same Native bytes, sent over HTTP.
        "native_rows_per_s": round(rows / raw_seconds),
        "native_ratio": round(rows / raw_seconds / in_process_rate, 3),
        # Plus clickhouse-connect turning Python values (UUID, datetime, Decimal) into Native.
        "column_oriented_rows_per_s": round(rows / endpoint_seconds),
        "column_oriented_ratio": round(rows / endpoint_seconds / in_process_rate, 3),
        "select1_p50_ms": round(percentile(latencies, 0.5), 3),
        "select1_p99_ms": round(percentile(latencies, 0.99), 3),
    }


def _in_process_inserts(native: bytes, batches: int) -> tuple[float, float]:
    """Seconds for `batches` chdb inserts of `native` in this process: one statement
    reading a tmpfs file (the endpoint's way), then chdb's streaming insert."""
    from chdb import _chdb

    from devservices.chendpoint.engine import default_spool_dir, engine_address

    with tempfile.TemporaryDirectory() as data_dir:
        spool = default_spool_dir(Path(data_dir))
        spool.mkdir(parents=True)
        # configured as the endpoint's engine; _chdb is a C extension without type information
        connection = _chdb.connect(engine_address(Path(data_dir)))  # type: ignore[attr-defined]
        try:
            connection.query(TABLE_DDL.format(name="trades"), "TabSeparated")

            def one_statement() -> None:
                path = spool / "batch.rows"
                path.write_bytes(native)
                connection.query(f"INSERT INTO trades FROM INFILE '{path}' FORMAT Native", "TabSeparated")
                path.unlink()

            def streamed() -> None:
                inserter = connection.send_insert("INSERT INTO trades", "Native")
                connection.insert_append(inserter, native)
                connection.insert_done(inserter)

            return _timed(one_statement, batches), _timed(streamed, batches)
        finally:
            connection.close()
            shutil.rmtree(spool, ignore_errors=True)


def _timed(insert: Callable[[], None], batches: int) -> float:
    insert()  # warm-up
    started = time.perf_counter()
    for _ in range(batches):
        insert()
    return time.perf_counter() - started
