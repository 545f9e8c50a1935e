"""`bench ledger`: which engine serves the insert-intent ledger best on one node.

A worker writes its ranges twice a flush (pending, done) and reads them on every
assignment. Two engines give a read that sees only the latest state of a key:
EmbeddedRocksDB (a key-value store: a write replaces the row) and ReplacingMergeTree
read with FINAL (versions merged at read time). Each runs `cycles` flushes of three
partitions, the read after every one, and must read back exactly what it wrote.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import clickhouse_connect
from django.conf import settings

from benchmarks.stats import percentile
from clickhouse import ledger
from clickhouse.connection import client_settings
from clickhouse.migrate import discover
from harness.progress import progress

REPLACING_DDL = """
    CREATE TABLE ledger_replacing (
        key String, job String, topic String, kafka_partition UInt16, first_offset UInt64,
        last_offset UInt64, state Enum8('pending' = 1, 'done' = 2), updated_at DateTime64(3, 'UTC')
    ) ENGINE = ReplacingMergeTree(updated_at) ORDER BY key"""
REPLACING_READ_SQL = """
    SELECT kafka_partition, first_offset, last_offset, toString(state)
    FROM ledger_replacing FINAL
    WHERE job = {job:String} AND topic = {topic:String}
"""
PARTITIONS = 3


def run(cycles: int) -> dict[str, Any]:
    database = f"trademonitor_bench_{uuid.uuid4().hex[:10]}"
    admin = clickhouse_connect.get_client(**client_settings(settings.CLICKHOUSE_URL, database="default"))
    admin.command(f"CREATE DATABASE {database}")
    try:
        client = clickhouse_connect.get_client(**client_settings(settings.CLICKHOUSE_URL, database=database))
        [rocks_ddl] = [s for m in discover() if m.name == "ingest_ledger" for s in m.statements()]
        client.command(rocks_ddl)
        client.command(REPLACING_DDL)
        figures: dict[str, Any] = {"cycles": cycles, "partitions": PARTITIONS}
        for name, table, read_sql in (("rocksdb", ledger.TABLE, ledger.READ_SQL),
                                      ("replacing_final", "ledger_replacing", REPLACING_READ_SQL)):
            figures.update(_measure(client, name, table, read_sql, cycles))
        return figures
    finally:
        admin.command(f"DROP DATABASE IF EXISTS {database} SYNC")


def _measure(client: Any, name: str, table: str, read_sql: str, cycles: int) -> dict[str, Any]:
    writes, reads, wrong = [], [], 0
    with progress(cycles, f"ledger on {name}", unit="flush") as bar:
        for cycle in range(cycles):
            first = cycle * 1000
            for state in (ledger.State.PENDING, ledger.State.DONE):
                entries = [ledger.Entry(p, first, first + 999, state) for p in range(PARTITIONS)]
                started = time.perf_counter()
                ledger.record(client, "ingest", "trades", entries, table=table)
                writes.append(time.perf_counter() - started)
            started = time.perf_counter()
            rows = client.query(read_sql, parameters={"job": "ingest", "topic": "trades"}).result_rows
            reads.append(time.perf_counter() - started)
            wrong += sorted(rows) != [(p, first, first + 999, "done") for p in range(PARTITIONS)]
            bar.update()
    return {
        f"{name}_write_ms_p50": round(percentile(writes, 0.5) * 1000, 2),
        f"{name}_write_ms_p99": round(percentile(writes, 0.99) * 1000, 2),
        f"{name}_write_ms_max": round(max(writes) * 1000, 2),
        f"{name}_read_ms_p50": round(percentile(reads, 0.5) * 1000, 2),
        f"{name}_read_ms_p99": round(percentile(reads, 0.99) * 1000, 2),
        f"{name}_read_ms_max": round(max(reads) * 1000, 2),
        f"{name}_reads_not_latest": wrong,
    }
