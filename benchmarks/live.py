"""`bench latency` and `bench fanout`: from a trade's production to the dashboard.

Both run the real path on a topic and a scratch database of their own: producer
→ Kafka → `runworkers` → ClickHouse → Channels (Redis) → daphne → WebSocket clients.

latency: one client; each trade's production time is remembered per symbol, and
each update that accounts for n trades of a symbol takes that symbol's n oldest
unaccounted production times (Kafka keeps no order across partitions, so this
pairs trades with the update that counted them in arrival order).
fanout: many clients; per update, the age of the newest trade it accounts for
(a trade's timestamp is its production time), and whether every client was told
about every trade.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import socket
import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import websockets
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from django.conf import settings

import contract
from benchmarks.stats import percentile
from harness.pool import database_url, start_pool, start_web, stop_pool, worker_pids
from harness.scratch import scratch_database
from infra.kafka import client_config, ensure_topic
from producer.trades import TradeGenerator
from trademonitor.symbols import trading_universe

logger = logging.getLogger(__name__)


class Stream:
    """Trades at a steady rate from a thread, remembering when each symbol's were sent."""

    def __init__(self, topic: str, rate: int, seconds: float, record: bool):
        self.topic, self.rate, self.seconds, self.record = topic, rate, seconds, record
        self.sent = 0
        self.sent_at: dict[str, deque] = defaultdict(deque)
        self.lock = threading.Lock()
        self.done = threading.Event()

    def run(self) -> None:
        producer = Producer(client_config(**{"linger.ms": 1, "enable.idempotence": True}))
        generator = TradeGenerator(trading_universe(), seed=3)
        started = time.monotonic()
        total = int(self.rate * self.seconds)
        while self.sent < total:
            due = min(total, int((time.monotonic() - started) * self.rate) + 1)
            if due <= self.sent:
                time.sleep(0.001)
                continue
            now_ms = time.time_ns() // 1_000_000
            for key, value in generator.batch(due - self.sent, now_ms):
                producer.produce(self.topic, value, key)
                if self.record:
                    symbol = value.split(b'"symbol": "')[1].split(b'"')[0].decode()
                    with self.lock:
                        self.sent_at[symbol].append(now_ms)
            self.sent = due
            producer.poll(0)
        producer.flush(30)
        self.done.set()




async def _client(url: str, on_delta, stop: asyncio.Event, ready: asyncio.Event | None = None,
                  drill_down: str | None = None) -> int:
    """One dashboard client until `stop`: `on_delta(frame text, ms received)` for every delta;
    with `drill_down`, it has that symbol's drill-down open, as the page subscribes.
    Reconnects like the page when the server closes (4503: start again from a snapshot) or
    the connection breaks. Returns its reconnections."""
    reconnections = -1
    while not stop.is_set():
        reconnections += 1
        try:
            async with websockets.connect(url, max_size=None, origin=f"http://{url.split('/')[2]}") as socket_:
                if drill_down:
                    await socket_.send(orjson.dumps({"type": contract.SUBSCRIBE, "symbols": [drill_down]}).decode())
                while not stop.is_set():
                    try:
                        frame = await asyncio.wait_for(socket_.recv(), timeout=0.5)
                    except TimeoutError:
                        continue
                    # A frame's kind and a delta's counts come from its first bytes (contract.py):
                    # decoding 45 KB frames would cost the clients more CPU than daphne.
                    kind = contract.frame_type(frame)
                    if kind == contract.DELTA:
                        on_delta(frame, time.time_ns() // 1_000_000)
                    elif kind == contract.SNAPSHOT and ready is not None:
                        ready.set()
        except (websockets.ConnectionClosed, OSError) as exc:
            logger.warning("dashboard client disconnected (%s); reconnecting", exc)
            await asyncio.sleep(0.5)
    return reconnections


# daphne's log of the last benchmark run (why clients were resynchronised, say).
WEB_LOG = Path(settings.BASE_DIR) / ".devservices" / "bench-daphne.log"


def run_system(stream: Stream, listen, pool_arguments: tuple[str, ...] = (), with_processes: bool = False,
               settings_environment: dict | None = None) -> None:
    """Start everything, then `listen(url, stream, writer)`: connect clients, stream, collect.
    With `with_processes`, listen also gets {name: pid} of the supervisor, workers and daphne;
    `settings_environment` overrides settings of the pool and daphne."""
    topic = stream.topic
    ensure_topic(topic, settings.KAFKA_TOPIC_PARTITIONS)
    port = _free_port()
    with scratch_database() as (database, writer, _reader):
        environment = {
            "CLICKHOUSE_URL": database_url(settings.CLICKHOUSE_URL, database),
            "CLICKHOUSE_READONLY_URL": database_url(settings.CLICKHOUSE_READONLY_URL, database),
            "KAFKA_TOPIC": topic,
            "ALERTS_TOPIC": f"{topic}.alerts",
            **(settings_environment or {}),
        }
        pool = start_pool(topic, f"{topic}-group", environment, 2, "--max-batch-ms", "50", *pool_arguments)
        web = start_web(environment, port, log=WEB_LOG)
        try:
            _wait_for_group(f"{topic}-group", members=2)
            url = f"ws://127.0.0.1:{port}/ws/live"
            if with_processes:
                workers = {f"worker-{i}": pid for i, pid in enumerate(worker_pids(pool.pid))}
                listen(url, stream, writer, {"supervisor": pool.pid, "daphne": web.pid, **workers})
            else:
                listen(url, stream, writer)
        finally:
            stop_pool(web, 20)
            stop_pool(pool)
            AdminClient(client_config()).delete_topics([topic, f"{topic}.alerts"])


def _stream_until_idle(stream: Stream, writer) -> None:
    """Produce the stream, wait until ClickHouse has all of it, then a little for the last updates."""
    producer = threading.Thread(target=stream.run, daemon=True)
    producer.start()
    producer.join()
    deadline = time.monotonic() + 120
    while writer.command("SELECT count() FROM trades") < stream.sent and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)


async def run_clients(url: str, count: int, on_delta, started, stop, drill_downs: list[str] | None = None) -> int:
    """`count` clients; `started()` once all have their snapshot; runs until `stop()` is true.
    The first clients have a drill-down open, one of `drill_downs` each. Returns how many
    times the clients reconnected."""
    closing = asyncio.Event()
    readies = [asyncio.Event() for _ in range(count)]
    opened = list(drill_downs or [])
    tasks = [asyncio.create_task(_client(url, on_delta, closing, ready, opened[i] if i < len(opened) else None))
             for i, ready in enumerate(readies)]
    await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in readies)), timeout=120)
    started()
    while not stop():
        await asyncio.sleep(0.2)
    closing.set()
    return sum(await asyncio.gather(*tasks))


def latency(rate: int, seconds: float) -> dict:
    topic = f"bench-live-{uuid.uuid4().hex[:8]}"
    stream = Stream(topic, rate, seconds, record=True)
    samples, accounted = [], 0

    def on_delta(frame: str, at: int) -> None:
        nonlocal accounted
        with stream.lock:
            for symbol, (count, *_rest) in orjson.loads(frame)["symbols"].items():
                queue = stream.sent_at[symbol]
                for _ in range(min(count, len(queue))):
                    samples.append(at - queue.popleft())
                accounted += count

    def listen(url: str, stream: Stream, writer) -> None:
        ready, done = threading.Event(), threading.Event()
        client = threading.Thread(target=lambda: asyncio.run(run_clients(url, 1, on_delta, ready.set, done.is_set)))
        client.start()
        ready.wait(120)
        _stream_until_idle(stream, writer)
        done.set()
        client.join(30)

    run_system(stream, listen)
    return {"rate": rate, "seconds": seconds, "sent": stream.sent, "received": accounted,
            "p50_ms": round(percentile(samples, 0.5), 1), "p99_ms": round(percentile(samples, 0.99), 1)}


def fanout(clients: int, rate: int, seconds: float) -> dict:
    stream = Stream(f"bench-live-{uuid.uuid4().hex[:8]}", rate, seconds, record=False)
    told = Told(clients)

    def listen(url: str, stream: Stream, writer) -> None:
        nonlocal told
        fleet = ClientFleet(url, clients)
        _stream_until_idle(stream, writer)
        told = fleet.stop()

    run_system(stream, listen)
    return {"clients": clients, "rate": rate, "seconds": seconds, "sent": stream.sent,
            "p50_ms": round(percentile(told.ages, 0.5), 1), "p99_ms": round(percentile(told.ages, 0.99), 1),
            "delivered_ratio": told.delivered_ratio(stream.sent), "reconnections": told.reconnections}


def drilldown(clients: int, open_drilldowns: int, symbols: int, rate: int, seconds: float) -> dict:
    """ClickHouse reads for open drill-downs: `clients` dashboards, `open_drilldowns` of them
    with a drill-down open on one of the `symbols` most traded symbols (round robin), while
    trades flow at `rate`. Reads are daphne's own count (trademonitor_drilldown_reads_total)."""
    stream = Stream(f"bench-live-{uuid.uuid4().hex[:8]}", rate, seconds, record=False)
    universe = trading_universe()
    popular = universe[:symbols]  # the generator trades every symbol alike: any are as busy
    opened = [popular[i % len(popular)] for i in range(open_drilldowns)]
    figures: dict = {}

    def listen(url: str, stream: Stream, writer, processes: dict) -> None:
        metrics_url = url.replace("ws://", "http://").replace("/ws/live", "/metrics")
        fleet = ClientFleet(url, clients, opened)
        before, started = _drilldown_reads(metrics_url), time.monotonic()
        _stream_until_idle(stream, writer)
        reads, elapsed = _drilldown_reads(metrics_url) - before, time.monotonic() - started
        told = fleet.stop()
        figures.update(reads=int(reads), seconds=round(elapsed, 1), reads_per_s=round(reads / elapsed, 1),
                       reconnections=told.reconnections)

    run_system(stream, listen, with_processes=True)
    return {"clients": clients, "open_drilldowns": open_drilldowns, "symbols": len(popular), "rate": rate,
            "sent": stream.sent, **figures}


def _drilldown_reads(metrics_url: str) -> float:
    import urllib.request

    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("trademonitor_drilldown_reads_total "):
                return float(line.split()[1])
    return 0.0


@dataclass
class Told:
    """What a fleet of clients was told: trades counted by all of them together, the age
    in ms of every update (its newest trade's), and how often they reconnected."""

    clients: int
    delivered: int = 0
    ages: list[int] = field(default_factory=list)
    reconnections: int = 0

    def delivered_ratio(self, sent: int) -> float:
        """1.0 when every client was told about every one of `sent` trades."""
        return round(self.delivered / (sent * self.clients), 4) if sent else 0.0


class ClientFleet:
    """Dashboard clients in processes of their own, connected (snapshot received) on
    return from the constructor. One Python process could not read 200 sockets as fast
    as daphne writes them (measured: 97 % of a core), nor keep answering keepalive pings."""

    PROCESSES = 4

    def __init__(self, url: str, clients: int, drill_downs: list[str] | None = None):
        """`drill_downs`: one symbol for each client that has a drill-down open."""
        self.clients = clients
        context = multiprocessing.get_context("fork")
        ready, self._results, self._done = context.Queue(), context.Queue(), context.Event()
        shares = [clients // self.PROCESSES + (i < clients % self.PROCESSES) for i in range(self.PROCESSES)]
        opened = list(drill_downs or [])
        self._processes = [context.Process(target=_fleet_clients,
                                           args=(url, n, ready, self._results, self._done, opened[i::self.PROCESSES]))
                           for i, n in enumerate(shares) if n]
        for process in self._processes:
            process.start()
        for _ in self._processes:
            ready.get(timeout=180)

    def stop(self) -> Told:
        """Disconnect every client; what they were told."""
        self._done.set()
        told = Told(self.clients)
        for _ in self._processes:
            delivered, ages, reconnections = self._results.get(timeout=60)
            told.delivered += delivered
            told.ages.extend(ages)
            told.reconnections += reconnections
        for process in self._processes:
            process.join(30)
        return told


def _fleet_clients(url: str, count: int, ready, results, done, drill_downs: list[str]) -> None:
    delivered, ages = 0, []

    def on_delta(frame: str, at: int) -> None:
        # Counts only, read from the frame's first bytes: decoding every frame whole cost
        # the client processes more CPU than daphne spent writing them.
        nonlocal delivered
        counts = contract.delta_counts(frame)
        assert counts is not None, frame[:100]
        trades, newest_ms = counts
        delivered += trades
        if trades:  # an update of sentiment counts only carries no trade time
            ages.append(at - newest_ms)

    reconnections = asyncio.run(run_clients(url, count, on_delta, lambda: ready.put(count), done.is_set, drill_downs))
    results.put((delivered, ages, reconnections))


def _wait_for_group(group: str, members: int, timeout: float = 60) -> None:
    """Until the pool's consumers have joined and the group is stable: no rebalance mid-measurement."""
    from confluent_kafka import ConsumerGroupState

    admin = AdminClient(client_config())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        description = admin.describe_consumer_groups([group])[group].result(10)
        if description.state == ConsumerGroupState.STABLE and len(description.members) == members:
            time.sleep(1)
            return
        time.sleep(0.5)
    raise RuntimeError(f"consumer group {group} did not settle")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
