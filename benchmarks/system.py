"""The system the live benchmarks measure, run as `make demo` runs it, and the trades
streamed into it.

`run_system` starts the real path on a topic and a scratch database of its own: producer
→ Kafka → `runworkers` (runworkers' defaults; the ingest, sentiment and alerts jobs, two
processes each) → ClickHouse → Channels (Redis) → daphne; the benchmark's `listen`
connects its clients. `Stream` produces the trades, each symbol's to one partition, so
that a symbol's running count says exactly which of its trades an update counts.
"""

from __future__ import annotations

import functools
import pickle
import threading
import time
import zlib
from collections import defaultdict, deque
from collections.abc import Callable
from pathlib import Path

from clickhouse_connect.driver.client import Client
from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient
from django.conf import settings

from harness.pool import database_url, free_port, start_pool, start_web, stop_pool, worker_pids
from harness.scratch import scratch_database, scratch_django_database
from harness.tally import Tally, stored_count
from infra.kafka import client_config, delete_topics, ensure_topic
from producer.trades import TradeGenerator
from trademonitor.symbols import bundled_universe


class Stream:
    """Trades at a steady rate from a thread, remembering when each symbol's were sent.

    Every symbol's trades go to one partition (its `symbol_partition`), so they are
    consumed, inserted and counted in the order they were sent: when a browser update
    says a symbol has n trades, they are exactly its first n sent. That makes each
    trade's latency exact, with no pairing heuristic."""

    def __init__(self, topic: str, rate: int, seconds: float, record: bool, tally: bool = False):
        """`record`: remember each trade's production time; `tally`: what was sent (harness/tally.py)."""
        self.topic, self.rate, self.seconds, self.record = topic, rate, seconds, record
        self.tally = Tally() if tally else None
        self.sent = 0
        self.sent_at: dict[str, deque] = defaultdict(deque)
        self.sent_at_offset: dict[tuple[int, int], int] = {}  # (partition, offset) -> ms produced, once delivered
        self.lock = threading.Lock()
        self.done = threading.Event()

    def save_sent_times(self, path: Path) -> None:
        """Every symbol's production times, in the order sent, and each delivered trade's by
        its (partition, offset), for the clients to time trades and their stages."""
        with self.lock, open(path, "wb") as file:
            pickle.dump(({symbol: list(times) for symbol, times in self.sent_at.items()}, self.sent_at_offset), file)

    def _delivered(self, sent_ms: int, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.sent_at_offset[(message.partition(), message.offset())] = sent_ms

    def run(self) -> None:
        producer = Producer(client_config(**{"linger.ms": 1, "enable.idempotence": True}))
        generator = TradeGenerator(bundled_universe(), seed=3)
        started = time.monotonic()
        total = int(self.rate * self.seconds)
        while self.sent < total:
            due = min(total, int((time.monotonic() - started) * self.rate) + 1)
            if due <= self.sent:
                time.sleep(0.001)
                continue
            now_ms = time.time_ns() // 1_000_000
            for key, value in generator.batch(due - self.sent, now_ms):
                symbol = value.split(b'"symbol": "')[1].split(b'"')[0].decode()
                sent_ms = time.time_ns() // 1_000_000
                producer.produce(self.topic, value, key, partition=symbol_partition(symbol),
                                 on_delivery=functools.partial(self._delivered, sent_ms) if self.record else None)
                if self.tally is not None:
                    self.tally.add_message(value)
                if self.record:
                    with self.lock:
                        self.sent_at[symbol].append(sent_ms)
            self.sent = due
            producer.poll(0)
        producer.flush(30)
        self.done.set()


DEMO_JOBS = ("--job", "ingest", "--job", "sentiment", "--job", "alerts")
DEMO_PROCESSES = 2  # worker processes a job, as `make demo` runs the pool (manage.py demo)


def symbol_partition(symbol: str) -> int:
    """The one partition a symbol's benchmark trades go to."""
    return zlib.crc32(symbol.encode()) % settings.KAFKA_TOPIC_PARTITIONS


# daphne's log of the last benchmark run (why clients were resynchronised, say).
WEB_LOG = Path(settings.BASE_DIR) / ".devservices" / "bench-daphne.log"


def run_system(stream: Stream, listen: Callable[..., None], pool_arguments: tuple[str, ...] = (),
               with_processes: bool = False, settings_environment: dict | None = None, preload: int = 0) -> None:
    """Start everything, then `listen(url, stream, writer)`: connect clients, stream, collect.
    With `with_processes`, listen also gets {name: pid} of the supervisor, workers and daphne;
    `settings_environment` overrides settings of the pool and daphne; `preload` trades over
    the bundled symbols are in ClickHouse first, on partitions the topic does not have."""
    from benchmarks.query import load

    topic = stream.topic
    ensure_topic(topic, settings.KAFKA_TOPIC_PARTITIONS)
    port = free_port()
    with scratch_database() as (database, writer, _reader), scratch_django_database() as django_database:
        if preload:
            load(writer, preload, symbols=bundled_universe(), first_partition=settings.KAFKA_TOPIC_PARTITIONS)
        environment = {
            "CLICKHOUSE_URL": database_url(settings.CLICKHOUSE_URL, database),
            "CLICKHOUSE_READONLY_URL": database_url(settings.CLICKHOUSE_READONLY_URL, database),
            "DATABASE_URL": django_database,  # worker status and symbols of its own
            "KAFKA_TOPIC": topic,
            "ALERTS_TOPIC": f"{topic}.alerts",
            **(settings_environment or {}),
        }
        # As `make demo` runs it: runworkers' defaults, the three jobs.
        pool = start_pool(topic, f"{topic}-group", environment, DEMO_PROCESSES, *DEMO_JOBS, *pool_arguments)
        web = start_web(environment, port, log=WEB_LOG)
        try:
            _wait_for_group(f"{topic}-group", members=DEMO_PROCESSES)
            url = f"ws://127.0.0.1:{port}/ws/live"
            if with_processes:
                workers = {f"worker-{i}": pid for i, pid in enumerate(worker_pids(pool.pid))}
                listen(url, stream, writer, {"supervisor": pool.pid, "daphne": web.pid, **workers})
            else:
                listen(url, stream, writer)
        finally:
            stop_pool(web, 20)
            stop_pool(pool)
            delete_topics(topic)


def stream_until_idle(stream: Stream, writer: Client) -> None:
    """Produce the stream, wait until ClickHouse has all of it, then a little for the last updates."""
    producer = threading.Thread(target=stream.run, daemon=True)
    producer.start()
    producer.join()
    wait_until_stored(writer, stream.sent)


def wait_until_stored(writer: Client, trades: int) -> None:
    """Until ClickHouse has `trades` trades (two minutes at most), then a little for the last updates."""
    deadline = time.monotonic() + 120
    while stored_count(writer) < trades and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)


def metric(url: str, name: str) -> float:
    """A counter of daphne's /metrics (the WebSocket `url`'s host)."""
    import urllib.request

    metrics_url = url.replace("ws://", "http://").replace("/ws/live", "/metrics")
    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
    return 0.0


COORDINATOR_NOT_READY = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                         KafkaError.COORDINATOR_NOT_AVAILABLE}


def _wait_for_group(group: str, members: int, timeout: float = 60) -> None:
    """Until the pool's consumers have joined and the group is stable: no rebalance mid-measurement."""
    from confluent_kafka import ConsumerGroupState

    admin = AdminClient(client_config())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            description = admin.describe_consumer_groups([group])[group].result(10)
        except KafkaException as exc:
            # A broker just started, or the group just created, answers NOT_COORDINATOR or
            # COORDINATOR_LOAD_IN_PROGRESS until its coordinator is ready: asked again.
            if exc.args[0].code() not in COORDINATOR_NOT_READY:
                raise
        else:
            if description.state == ConsumerGroupState.STABLE and len(description.members) == members:
                time.sleep(1)
                return
        time.sleep(0.5)
    raise RuntimeError(f"consumer group {group} did not settle")
