"""A whole ingestion pipeline of a test's own: a fresh topic, a scratch ClickHouse
database, a symbol database, and `runworkers` as a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from decimal import Decimal
from pathlib import Path

import clickhouse_connect
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from django.conf import settings

from clickhouse import queries
from clickhouse.connection import client_settings
from clickhouse.migrate import Migrator
from harness.pool import database_url, start_pool, start_web, worker_pids
from harness.tally import Tally
from infra.kafka import MESSAGE_MAX_BYTES, client_config, delete_topics, ensure_topic
from producer.trades import TradeGenerator, now_ms

PROJECT_DIR = Path(__file__).resolve().parent.parent


class Pipeline:
    def __init__(self, symbol_db: str, clickhouse_url: str | None = None, readonly_url: str | None = None):
        self.name = f"t{uuid.uuid4().hex[:10]}"
        self.topic = self.name
        self.group = f"{self.name}-group"
        self.database = f"trademonitor_{self.name}"  # the read users' grant: trademonitor*
        self.symbol_db = symbol_db
        self.base_url = clickhouse_url or settings.CLICKHOUSE_URL
        self.base_readonly_url = readonly_url or settings.CLICKHOUSE_READONLY_URL
        self.tally = Tally()
        self.pools: list[subprocess.Popen] = []
        self.extra_environment: dict[str, str] = {}
        ensure_topic(self.topic, 3)
        ensure_topic(f"{self.topic}.dlq", 3)
        self.migrate()

    # -- ClickHouse ---------------------------------------------------------------------
    def _with_database(self, url: str) -> str:
        return database_url(url, self.database)

    def migrate(self) -> None:
        Migrator(self.base_url, self.database).apply()

    @property
    def url(self) -> str:
        return self._with_database(self.base_url)

    def clickhouse(self):
        return clickhouse_connect.get_client(**client_settings(self.url))

    def count(self) -> int:
        return self.clickhouse().command("SELECT count() FROM trades")

    def wait_for(self, expected: int, timeout: float = 180.0) -> int:
        deadline = time.monotonic() + timeout
        count = -1
        while time.monotonic() < deadline:
            try:
                count = self.count()
            except Exception:  # noqa: BLE001 - the endpoint may be restarting
                count = -1
            if count >= expected:
                return count
            time.sleep(0.5)
        return count

    def assert_exact(self) -> None:
        """What ClickHouse stored is what was sent: ids, per-symbol trades, shares and volume
        (harness/tally.py), and the kept totals, the candles and the snapshot agree with it."""
        client = self.clickhouse()
        assert self.tally.differences(Tally.stored(client)) == []
        assert queries.totals_check(client) == []
        assert queries.candles_check(client) == []
        snapshot = queries.snapshot(client)
        assert {s: (t.trades, t.shares, t.volume) for s, t in snapshot.totals.items()} == {
            s: (n, self.tally.shares[s], Decimal(self.tally.volume_cents[s]) / 100) for s, n in self.tally.trades.items()
        }

    # -- Kafka ----------------------------------------------------------------------------
    def produce(self, count: int, symbols: list[str], seed: int = 1, extra: list | None = None,
                rate: int = 0, clock_offset_ms: int = 0) -> None:
        """`count` good trades (tallied), plus `extra` raw (key, value) messages interleaved;
        `rate` trades a second at most (0: as fast as possible); `clock_offset_ms`: how far
        the producer's clock is ahead (its trades' timestamps)."""

        producer = Producer(client_config(**{"enable.idempotence": True, "linger.ms": 20,
                                             "message.max.bytes": MESSAGE_MAX_BYTES}))
        generator = TradeGenerator(symbols, seed=seed)
        extra = list(extra or [])
        every = max(1, count // (len(extra) + 1)) if extra else 0

        def send(key, value) -> None:
            while True:
                try:
                    return producer.produce(self.topic, value, key)
                except BufferError:  # the local queue is full (Kafka slow or away): wait for room
                    producer.poll(0.1)

        sent = 0
        started = time.monotonic()
        while sent < count:
            if rate:
                time.sleep(max(0.0, started + sent / rate - time.monotonic()))
            for key, value in generator.batch(min(1000, count - sent), now_ms() + clock_offset_ms):
                self.tally.add_message(value)
                send(key, value)
                sent += 1
                if every and sent % every == 0 and extra:
                    send(*extra.pop())
            producer.poll(0)
        for bad_key, bad_value in extra:
            send(bad_key, bad_value)
        assert producer.flush(120) == 0

    def send_trade(self, symbol: str, price: int, quantity: int = 10) -> str:
        """One trade of the test's choosing, tallied; returns its id."""
        return self.send_trades([(symbol, price, quantity, now_ms(), None)])[0]

    def send_trades(self, trades: list[tuple[str, int, int, int, int | None]]) -> list[str]:
        """(symbol, price cents, quantity, epoch ms, partition or None) each, in order,
        tallied; returns their ids."""
        from producer.trades import encode

        producer = Producer(client_config(**{"enable.idempotence": True}))
        ids = []
        for symbol, price, quantity, at_ms, partition in trades:
            trade_id = str(uuid.uuid4())
            placement = {} if partition is None else {"partition": partition}
            producer.produce(self.topic, encode(trade_id, at_ms, symbol, price, quantity), trade_id, **placement)
            self.tally.add(trade_id, symbol, price, quantity)
            ids.append(trade_id)
        assert producer.flush(30) == 0
        return ids

    def wait_committed(self, messages: int, group: str | None = None, timeout: float = 60.0) -> None:
        """Until the group's commits cover `messages` messages: every insert is done then,
        and nothing can come that was not already there (a duplicate, say)."""
        deadline = time.monotonic() + timeout
        while sum(max(0, offset) for offset in self.committed_by(group or self.group).values()) < messages:
            assert time.monotonic() < deadline, f"commits do not cover {messages} messages"
            time.sleep(0.2)

    def committed(self) -> dict[int, int]:
        return self.committed_by(self.group)

    def committed_by(self, group: str) -> dict[int, int]:
        consumer = Consumer(client_config(**{"group.id": group}))
        try:
            offsets = consumer.committed([TopicPartition(self.topic, p) for p in range(3)], timeout=20)
        finally:
            consumer.close()
        return {tp.partition: tp.offset for tp in offsets}

    def all_dead_letters(self) -> list:
        """Every message on the dead-letter topic now, read to each partition's end."""
        dlq = f"{self.topic}.dlq"
        consumer = Consumer(client_config(**{"group.id": uuid.uuid4().hex, "enable.partition.eof": True}))
        try:
            partitions = [TopicPartition(dlq, p, 0) for p in consumer.list_topics(dlq, timeout=10).topics[dlq].partitions]
            consumer.assign(partitions)
            letters, ended = [], set()
            deadline = time.monotonic() + 60
            while len(ended) < len(partitions) and time.monotonic() < deadline:
                for message in consumer.consume(500, timeout=1):
                    if message.error() is None:
                        letters.append(message)
                    elif message.error().code() == KafkaError._PARTITION_EOF:
                        ended.add(message.partition())
            assert len(ended) == len(partitions), "the dead-letter topic was not read to its end"
            return letters
        finally:
            consumer.close()

    def dead_letters(self, expected: int, timeout: float = 30.0) -> list:
        consumer = Consumer(client_config(**{"group.id": uuid.uuid4().hex, "auto.offset.reset": "earliest"}))
        consumer.subscribe([f"{self.topic}.dlq"])
        letters = []
        deadline = time.monotonic() + timeout
        while len(letters) < expected and time.monotonic() < deadline:
            letters.extend(m for m in consumer.consume(100, timeout=1) if m.error() is None)
        consumer.close()
        return letters

    # -- the pool -----------------------------------------------------------------------
    def environment(self) -> dict:
        return {
            **os.environ,
            "CLICKHOUSE_URL": self.url,
            "CLICKHOUSE_READONLY_URL": self._with_database(self.base_readonly_url),
            "CLICKHOUSE_PANEL_URL": self._with_database(settings.CLICKHOUSE_PANEL_URL),
            "DATABASE_URL": f"sqlite:///{self.symbol_db}",
            "KAFKA_TOPIC": self.topic,
            **self.extra_environment,
        }

    def start_web(self, port: int) -> subprocess.Popen:
        web = start_web(self.environment(), port)
        self.pools.append(web)
        return web

    def start_pool(self, processes: int = 2, *extra: str, log: Path | None = None) -> subprocess.Popen:
        pool = start_pool(self.topic, self.group, self.environment(), processes, "--max-batch-ms", "100", *extra,
                          log=log)
        self.pools.append(pool)
        return pool

    @staticmethod
    def worker_pids(pool: subprocess.Popen) -> list[int]:
        """The pool's worker processes (spawned children, not multiprocessing's helpers)."""
        return worker_pids(pool.pid)

    def stop(self, pool: subprocess.Popen, timeout: float = 60.0) -> int:
        if pool.poll() is None:
            pool.send_signal(signal.SIGTERM)
        return pool.wait(timeout)

    def close(self) -> None:
        for pool in self.pools:
            if pool.poll() is None:
                os.killpg(pool.pid, signal.SIGKILL)
                pool.wait(10)
        try:
            admin = clickhouse_connect.get_client(**client_settings(self.base_url, database="default"))
            admin.command(f"DROP DATABASE IF EXISTS {self.database} SYNC")
        except Exception:  # noqa: BLE001 - the endpoint of a test may be gone already
            pass
        try:
            delete_topics(self.topic)  # a broker keeping thousands of old partitions starts slowly
        except Exception:  # noqa: BLE001 - the broker of a test may be gone already
            pass
