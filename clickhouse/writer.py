"""The workers' inserts: trades (ingest) and their classification (sentiment).

An insert is one block, and a retry must reproduce it exactly with the same
`insert_deduplication_token`: then `trades` and every table its materialized
views feed drop the repeat (each carries `non_replicated_deduplication_window`, or
is Replicated). ClickHouse appends, rather than drops, a retry that it cuts into
blocks differently, so every setting that decides the cut is pinned here.
Deduplication does not apply to asynchronous inserts, so they are switched off
here explicitly (chdb defaults to async_insert=1).

On a cluster a worker writes a shard's own table (`trades_local`, clickhouse/shards.py)
with a parallel quorum: acknowledged once a majority of the shard's replicas have
the block, so no acknowledged range is lost with one replica.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.client import Client
from django.conf import settings

from clickhouse import cluster, native

TRADE_COLUMNS = ("id", "ts", "symbol", "price", "quantity", "kafka_partition", "kafka_offset")
# How each column travels: ids as text, ts as epoch milliseconds, price as cents.
TRADE_WIRE_TYPES = ("UUID", "DateTime64(3, 'UTC')", "String", "Decimal(18, 2)", "UInt32", "UInt16", "UInt64")

INSERT_SETTINGS = {
    "async_insert": 0,
    "deduplicate_blocks_in_dependent_materialized_views": 1,
    # One block per insert, however many rows, in the table and in every view: a retry
    # is then cut the same way and deduplicated whole.
    "max_insert_block_size": 10_000_000,
    "max_insert_block_size_bytes": 0,
    "min_insert_block_size_rows": 0,
    "min_insert_block_size_bytes": 0,
    "min_insert_block_size_rows_for_materialized_views": 0,
    "min_insert_block_size_bytes_for_materialized_views": 0,
    # An insert through a Distributed table (the alerts job's, on a cluster) is
    # acknowledged only once the shard has the rows. No effect on one server.
    "distributed_foreground_insert": 1,
}


CLUSTER_INSERT_SETTINGS = {"insert_quorum": "auto", "insert_quorum_parallel": 1}


def target(table: str) -> str:
    """The table a worker writes: on a cluster, the shard's own (replicated) one."""
    return cluster.local(table) if settings.CLICKHOUSE_CLUSTER else table


def insert_settings(deduplication_token: str) -> dict[str, Any]:
    quorum = CLUSTER_INSERT_SETTINGS if settings.CLICKHOUSE_CLUSTER else {}
    return {**INSERT_SETTINGS, **quorum, "insert_deduplication_token": deduplication_token}


def insert_trades(client: Client, columns: Sequence[Sequence[Any]], deduplication_token: str) -> None:
    """Insert trades as one deduplicated block.

    `columns` are in TRADE_COLUMNS order as they come off the wire: id strings,
    epoch milliseconds, symbols, price in integer cents, quantities, partitions, offsets.
    """
    data = native.block(list(zip(TRADE_COLUMNS, TRADE_WIRE_TYPES, columns, strict=True)))
    client.raw_insert(target("trades"), TRADE_COLUMNS, insert_block=data, fmt="Native",
                      settings=insert_settings(deduplication_token))


SENTIMENT_COLUMNS = ("id", "ts", "symbol", "quantity", "sentiment", "kafka_partition", "kafka_offset")
SENTIMENT_WIRE_TYPES = ("UUID", "DateTime64(3, 'UTC')", "String", "UInt32", "String", "UInt16", "UInt64")


def insert_sentiment(client: Client, columns: Sequence[Sequence[Any]], deduplication_token: str) -> None:
    """Insert classified trades as one deduplicated block; `columns` in SENTIMENT_COLUMNS
    order, sentiment as 'WHALE' or 'MINNOW'."""
    data = native.block(list(zip(SENTIMENT_COLUMNS, SENTIMENT_WIRE_TYPES, columns, strict=True)))
    client.raw_insert(target("trade_sentiment"), SENTIMENT_COLUMNS, insert_block=data, fmt="Native",
                      settings=insert_settings(deduplication_token))
