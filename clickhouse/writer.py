"""Writing trades: the one insert the workers (and benchmarks) make.

An insert is one block, and a retry must reproduce it exactly with the same
`insert_deduplication_token`: then `trades` and every table its materialized
views feed drop the repeat (each carries `non_replicated_deduplication_window`).
Deduplication does not apply to asynchronous inserts, so they are switched off
here explicitly (chdb defaults to async_insert=1).
"""

from __future__ import annotations

from collections.abc import Sequence

from clickhouse_connect.driver.client import Client

TRADE_COLUMNS = ("id", "ts", "symbol", "price", "quantity", "kafka_partition", "kafka_offset")

INSERT_SETTINGS = {
    "async_insert": 0,
    "deduplicate_blocks_in_dependent_materialized_views": 1,
    # One block per insert, however many rows: a retry is then deduplicated whole.
    "max_insert_block_size": 10_000_000,
    "min_insert_block_size_rows": 0,
    "min_insert_block_size_bytes": 0,
}


def insert_trades(client: Client, columns: Sequence[Sequence], deduplication_token: str) -> None:
    """Insert column-oriented trades (in TRADE_COLUMNS order) as one deduplicated block."""
    client.insert(
        "trades",
        columns,
        column_names=TRADE_COLUMNS,
        column_oriented=True,
        settings={**INSERT_SETTINGS, "insert_deduplication_token": deduplication_token},
    )
