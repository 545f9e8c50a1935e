"""`bench ingest`: the worker pool's throughput against a bare Kafka consumer.

Produces N trades to a fresh topic (not timed), tallying what was sent, then times
`runworkers` from its start until all N are in a scratch ClickHouse database, and
compares what was stored with what was sent (harness/tally.py). Then, on the same
topic, how fast as many bare consumers as the pool has processes merely read it, with
the workers' consumer configuration and timed the same way: the baseline.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
import uuid
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType

from confluent_kafka import Consumer
from django.conf import settings

from clickhouse import queries
from harness.pool import database_url, start_pool, stop_pool
from harness.progress import progress
from harness.scratch import scratch_database, scratch_django_database
from harness.tally import Tally, produce, stored_count
from infra.kafka import delete_topics, ensure_topic, worker_consumer_config

logger = logging.getLogger(__name__)


def raw_consume(topic: str, count: int, processes: int) -> tuple[float, list[int]]:
    """The baseline, under the pool's conditions: `processes` consumers in one group with the
    workers' own configuration (infra.kafka.worker_consumer_config), timed like the pool from
    the processes' start (group join included) until all `count` messages were read.
    Returns (seconds, messages read by each process)."""
    # Spawned, as the pool's workers are: a forked child would inherit the producer's
    # librdkafka threads' locks (a fork of a threaded process), and hung so once.
    context = multiprocessing.get_context("spawn")
    total, done = context.Value("q", 0), context.Event()
    results = context.Queue()
    group = f"{topic}-raw-{uuid.uuid4().hex[:6]}"
    started = time.perf_counter()
    readers = [context.Process(target=_read_only, args=(topic, group, count, total, done, results))
               for _ in range(processes)]
    for reader in readers:
        reader.start()
    while total.value < count:
        if not any(reader.is_alive() for reader in readers):
            raise RuntimeError("the baseline consumers exited early")
        time.sleep(0.01)
    seconds = time.perf_counter() - started
    done.set()
    shares = [results.get(timeout=60) for _ in readers]
    for reader in readers:
        reader.join(30)
    return seconds, sorted(shares)


def _read_only(topic: str, group: str, count: int, total: Synchronized[int], done: EventType,
               results: Queue[int]) -> None:
    consumer = Consumer(worker_consumer_config(group, None))
    consumer.subscribe([topic])
    mine = 0
    while not done.is_set() and total.value < count:
        read = sum(1 for message in consumer.consume(num_messages=10_000, timeout=0.05) if message.error() is None)
        mine += read
        with total.get_lock():
            total.value += read
    consumer.close()
    results.put(mine)


def run(trades: int, processes: int) -> dict:
    topic = f"bench-ingest-{uuid.uuid4().hex[:8]}"
    ensure_topic(topic, settings.KAFKA_TOPIC_PARTITIONS)
    try:
        sent = produce(topic, trades)
        with scratch_database() as (database, writer, _reader), scratch_django_database() as django_database:
            environment = {
                "CLICKHOUSE_URL": database_url(settings.CLICKHOUSE_URL, database),
                "CLICKHOUSE_READONLY_URL": database_url(settings.CLICKHOUSE_READONLY_URL, database),
                "DATABASE_URL": django_database,  # worker status and symbols of its own
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
                        new = stored_count(writer)
                        bar.update(new - count)
                        count = new
                seconds = time.perf_counter() - started
            finally:
                stop_pool(pool)
            # Exact: the stored trades are the trades sent (ids, per-symbol trades, shares and
            # volume in cents), and the materialized totals agree with them.
            differences = sent.differences(Tally.stored(writer)) + [
                f"symbol_totals differs from trades for {d['symbol']}" for d in queries.totals_check(writer)]
        raw_seconds, raw_shares = raw_consume(topic, trades, processes)
    finally:
        delete_topics(topic)
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
        "raw_consume_processes": processes,
        "raw_consume_per_process": [round(share / raw_seconds) for share in raw_shares],
        "ratio_to_raw_consume": round(rate / raw_rate, 3),
        "exact": not differences,
        "differences": differences[:10],
    }
