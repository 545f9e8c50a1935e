"""`bench ingest`: the worker pool's throughput against a bare Kafka consumer.

Produces N trades to a fresh topic (not timed), then times `runworkers` from its
start until all N are in a scratch ClickHouse database, and, on the same topic,
how fast one confluent-kafka consumer merely reads it.
"""

from __future__ import annotations

import logging
import os
import time
import uuid

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient
from django.conf import settings

from benchmarks.progress import progress
from clickhouse import queries
from harness.pool import database_url, start_pool, stop_pool
from harness.scratch import scratch_database
from infra.kafka import client_config, ensure_topic
from producer.publisher import TradePublisher
from producer.trades import TradeGenerator
from trademonitor.symbols import trading_universe

logger = logging.getLogger(__name__)


def produce(topic: str, count: int) -> None:
    with progress(count, "producing", "trades") as bar:
        report = TradePublisher(topic, TradeGenerator(trading_universe(), seed=1), rate=0).run(
            count, on_progress=bar.update)
    if report.failed:
        raise RuntimeError(f"{report.failed} trades not delivered")


def raw_consume_seconds(topic: str, count: int) -> float:
    consumer = Consumer(client_config(**{"group.id": uuid.uuid4().hex, "auto.offset.reset": "earliest",
                                         "enable.auto.commit": False}))
    consumer.subscribe([topic])
    seen, started = 0, None
    while seen < count:
        messages = consumer.consume(num_messages=10_000, timeout=5)
        if started is None and messages:
            started = time.perf_counter()
        seen += sum(1 for m in messages if m.error() is None)
    seconds = time.perf_counter() - started
    consumer.close()
    return seconds


def run(trades: int, processes: int) -> dict:
    topic = f"bench-ingest-{uuid.uuid4().hex[:8]}"
    ensure_topic(topic, settings.KAFKA_TOPIC_PARTITIONS)
    try:
        produce(topic, trades)
        with scratch_database() as (database, writer, _reader):
            environment = {
                "CLICKHOUSE_URL": database_url(settings.CLICKHOUSE_URL, database),
                "CLICKHOUSE_READONLY_URL": database_url(settings.CLICKHOUSE_READONLY_URL, database),
            }
            started = time.perf_counter()
            pool = start_pool(topic, f"{topic}-group", environment, processes)
            try:
                with progress(trades, "ingesting", "trades") as bar:
                    count = 0
                    while count < trades:
                        if pool.poll() is not None:
                            raise RuntimeError(f"the worker pool exited with {pool.returncode}")
                        time.sleep(0.05)
                        new = writer.command("SELECT count() FROM trades")
                        bar.update(new - count)
                        count = new
                seconds = time.perf_counter() - started
            finally:
                stop_pool(pool)
            count, distinct = writer.query("SELECT count(), uniqExact(id) FROM trades").result_rows[0]
            exact = count == distinct == trades and queries.totals_check(writer) == []
        raw_seconds = raw_consume_seconds(topic, trades)
    finally:
        AdminClient(client_config()).delete_topics([topic])
    rate = trades / seconds
    raw_rate = trades / raw_seconds
    cores = os.cpu_count() or 1
    return {
        "trades": trades,
        "processes": processes,
        "seconds": round(seconds, 2),
        "trades_per_s": round(rate),
        "trades_per_s_per_core": round(rate / cores),
        "raw_consume_per_s": round(raw_rate),
        "ratio_to_raw_consume": round(rate / raw_rate, 3),
        "exact": exact,
    }
