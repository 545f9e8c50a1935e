"""`bench latency`, `fanout`, `slowclients`, `snapshot`, `firstpage` and `drilldown`: from a trade's
production to the dashboard.

Each runs the real path on a topic and a scratch database of its own: producer
→ Kafka → `runworkers` → ClickHouse → Channels (Redis) → daphne → WebSocket clients.

Runs as `make demo` does: runworkers' defaults and the ingest, sentiment and alerts jobs.

latency: one client; exact per trade. Every symbol's trades go to one partition, so
a symbol's running count in the updates says exactly which of its trades have been
counted: each trade's latency is from its production to the first update that
counts it. p50, p90, p99 and max over every trade.
fanout: many clients; per update, the age of the newest trade it accounts for
(a trade's timestamp is its production time), and whether every client was told
about every trade.
slowclients: clients that never read beside one timed as latency does: daphne's memory.
snapshot: N trades loaded, then many clients connecting at once: each one's time to its
first frame (the snapshot, names, whales and alerts included), with no client connected
before them (the web process reads ClickHouse once for all) and, round after round,
beside one that is (its live copy serves them).
firstpage: N trades loaded, trades flowing and a dashboard open: a drill-down's first page
through the API, one random symbol after another, each timed; then some checked against
ClickHouse's.
"""

from __future__ import annotations

import asyncio
import functools
import http.client
import logging
import multiprocessing
import pickle
import random
import socket
import tempfile
import threading
import time
import urllib.parse
import uuid
import zlib
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from django.conf import settings

import contract
from benchmarks.stats import percentile
from harness.acks import Acknowledger
from harness.pool import database_url, free_port, memory_mb, start_pool, start_web, stop_pool, worker_pids
from harness.scratch import scratch_database, scratch_django_database
from harness.tally import Tally
from harness.wsclient import Closed, Connection, opening_handshake
from infra.kafka import client_config, delete_topics, ensure_topic
from producer.trades import TradeGenerator
from trademonitor.symbols import bundled_universe

logger = logging.getLogger(__name__)


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

    def _delivered(self, sent_ms: int, error, message) -> None:
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




async def _client(url: str, on_delta, reconnections: list[int], ready: asyncio.Event | None = None,
                  drill_down: str | None = None) -> None:
    """One dashboard client until cancelled: `on_delta(frame text, ms received)` for every
    delta; with `drill_down`, it has that symbol's drill-down open, as the page subscribes.
    Reconnects like the page when the server closes (4503: start again from a snapshot) or
    the connection breaks, counting each time in `reconnections[0]`."""
    while True:
        try:
            connection = await Connection.open(url)
        except OSError as exc:
            logger.warning("dashboard client could not connect (%s); retrying", exc)
        else:
            try:
                await _read_dashboard(connection, on_delta, ready, drill_down)
            except (Closed, OSError) as exc:
                logger.warning("dashboard client disconnected (%s); reconnecting", exc)
            finally:
                connection.close()
        reconnections[0] += 1
        await asyncio.sleep(0.5)


async def _read_dashboard(connection: Connection, on_delta, ready: asyncio.Event | None,
                          drill_down: str | None) -> None:
    if drill_down:
        connection.send(orjson.dumps({"type": contract.SUBSCRIBE, "symbols": [drill_down]}).decode())
    acks = Acknowledger()
    while True:
        frame = await connection.receive()
        if (ack := acks.count()) is not None:
            connection.send(ack)
        # A frame's kind and a delta's counts come from its first bytes (contract.py):
        # decoding 45 KB frames would cost the clients more CPU than daphne.
        kind = contract.frame_type(frame)
        if kind == contract.DELTA:
            on_delta(frame, time.time_ns() // 1_000_000)
        elif kind == contract.SNAPSHOT and ready is not None:
            ready.set()


DEMO_JOBS = ("--job", "ingest", "--job", "sentiment", "--job", "alerts")
DEMO_PROCESSES = 2  # worker processes a job, as `make demo` runs the pool (manage.py demo)


def symbol_partition(symbol: str) -> int:
    """The one partition a symbol's benchmark trades go to."""
    return zlib.crc32(symbol.encode()) % settings.KAFKA_TOPIC_PARTITIONS


# daphne's log of the last benchmark run (why clients were resynchronised, say).
WEB_LOG = Path(settings.BASE_DIR) / ".devservices" / "bench-daphne.log"


def run_system(stream: Stream, listen, pool_arguments: tuple[str, ...] = (), with_processes: bool = False,
               settings_environment: dict | None = None, preload: int = 0) -> None:
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


def _stream_until_idle(stream: Stream, writer) -> None:
    """Produce the stream, wait until ClickHouse has all of it, then a little for the last updates."""
    producer = threading.Thread(target=stream.run, daemon=True)
    producer.start()
    producer.join()
    _wait_until_stored(writer, stream.sent)


def _wait_until_stored(writer, trades: int) -> None:
    """Until ClickHouse has `trades` trades (two minutes at most), then a little for the last updates."""
    deadline = time.monotonic() + 120
    while writer.command("SELECT count() FROM trades") < trades and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)


async def run_clients(url: str, count: int, on_delta, started, stop, drill_downs: list[str] | None = None) -> int:
    """`count` clients, `on_delta(client index, frame, ms received)` for each one's deltas;
    `started()` once all have their snapshot; runs until `stop()` is true.
    The first clients have a drill-down open, one of `drill_downs` each. Returns how many
    times the clients reconnected."""
    reconnections = [0]
    readies = [asyncio.Event() for _ in range(count)]
    opened = list(drill_downs or [])
    tasks = [asyncio.create_task(_client(url, functools.partial(on_delta, i), reconnections, ready,
                                         opened[i] if i < len(opened) else None))
             for i, ready in enumerate(readies)]
    try:
        await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in readies)), timeout=120)
        started()
        while not stop() and not any(task.done() for task in tasks):
            await asyncio.sleep(0.2)
    finally:
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [outcome for outcome in outcomes if not isinstance(outcome, asyncio.CancelledError)]
    if failures:
        raise failures[0]  # a client failed (an update it could not count): the figures are void
    return reconnections[0]


STAGES = ("poll_wait", "batch_wait", "insert", "publish", "hub", "send")


def split_stages(spans: list[dict], at: int, produced_at: dict[tuple[int, int], int],
                 stages: dict[str, list[int]]) -> None:
    """Each trade's stages, from the stamps of the spans a frame read at `at` carries
    (contract.StagedSpan) and when each trade was produced, by (partition, offset):
    appended to `stages` (STAGES)."""
    for span in spans:
        partition, (first, last), stamps = int(span["partition"]), span["offsets"], span["stamps"]
        polls = stamps["polls"]
        poll = 0
        for offset in range(first, last + 1):
            produced = produced_at.get((partition, offset))
            if produced is None:
                continue
            while poll + 1 < len(polls) and polls[poll + 1][0] <= offset:
                poll += 1
            moments = (produced, polls[poll][1], stamps["flushed"], stamps["inserted"], stamps["received"],
                       stamps["sent"], at)
            for stage, start, end in zip(STAGES, moments, moments[1:], strict=False):
                stages[stage].append(end - start)


def stage_figures(stages: dict[str, list[int]]) -> dict[str, float]:
    """p50 and p99 of each stage that has durations (split_stages)."""
    return {f"{stage}_{name}_ms": round(percentile(durations, quantile), 1)
            for stage, durations in stages.items() if durations
            for name, quantile in (("p50", 0.5), ("p99", 0.99))}


class TradeTimer:
    """One client's exact per-trade latency: a symbol's trades are counted in the order
    they were sent (Stream), so the n trades an update adds to a symbol are the n oldest
    of it not yet counted.

    And where each trade's time went, from the stamps the frame carries (contract.Stamps)
    and the offset Kafka gave it: produced → polled (poll wait) → flush began (batch
    wait) → its partition's insert returned (insert) → the hub received the delta
    (publish, through Redis) → the hub sent the frame (hub) → the client read it (send).
    The stages of a trade add up to its latency."""

    def __init__(self, stream: Stream):
        self.stream = stream
        self.samples: list[int] = []
        self.stages: dict[str, list[int]] = {stage: [] for stage in STAGES}
        self.accounted = self.unpaired = 0

    def on_delta(self, frame: str, at: int) -> None:
        decoded = orjson.loads(frame)
        with self.stream.lock:
            for symbol, totals in decoded["symbols"].items():
                count, queue = totals[contract.Totals.TRADES], self.stream.sent_at[symbol]
                paired = min(count, len(queue))
                self.samples.extend(at - queue.popleft() for _ in range(paired))
                self.accounted += count
                self.unpaired += count - paired
        split_stages(decoded.get("stages", []), at, self.stream.sent_at_offset, self.stages)


    def run(self, url: str, ready: threading.Event, done: threading.Event) -> threading.Thread:
        """The client, in a thread of its own until `done`; `ready` once it has its snapshot."""
        client = threading.Thread(target=lambda: asyncio.run(
            run_clients(url, 1, lambda _client, frame, at: self.on_delta(frame, at), ready.set, done.is_set)))
        client.start()
        if not ready.wait(120):
            raise TimeoutError("the timed client got no snapshot in 120 s")
        return client

    def figures(self) -> dict:
        samples = self.samples
        figures = {"sent": self.stream.sent, "received": self.accounted, "unpaired": self.unpaired,
                   "p50_ms": round(percentile(samples, 0.5), 1), "p90_ms": round(percentile(samples, 0.9), 1),
                   "p99_ms": round(percentile(samples, 0.99), 1), "max_ms": max(samples, default=0),
                   "staged_trades": len(self.stages["send"])}
        return {**figures, **stage_figures(self.stages)}


def latency(rate: int, seconds: float) -> dict:
    stream = Stream(f"bench-live-{uuid.uuid4().hex[:8]}", rate, seconds, record=True)
    timer = TradeTimer(stream)

    def listen(url: str, stream: Stream, writer) -> None:
        ready, done = threading.Event(), threading.Event()
        client = timer.run(url, ready, done)
        _stream_until_idle(stream, writer)
        done.set()
        client.join(30)

    run_system(stream, listen)
    return {"rate": rate, "seconds": seconds, **timer.figures()}


def slowclients(clients: int, rate: int, seconds: float) -> dict:
    """`clients` WebSocket clients that complete the handshake and never read again, beside
    one timed client that reads (and acknowledges) as the page does, while trades flow at
    `rate`: daphne's RSS before they connect, at its highest and after, and the timed
    client's exact per-trade latency and count."""
    stream = Stream(f"bench-live-{uuid.uuid4().hex[:8]}", rate, seconds, record=True)
    timer = TradeTimer(stream)
    figures: dict = {}

    def listen(url: str, stream: Stream, writer, processes: dict) -> None:
        daphne = processes["daphne"]
        ready, done = threading.Event(), threading.Event()
        client = timer.run(url, ready, done)
        before = memory_mb(daphne)
        idle = [_never_reading(url) for _ in range(clients)]
        highest = before
        sampling = threading.Event()

        def sample() -> None:
            nonlocal highest
            while not sampling.wait(0.5):
                highest = max(highest, memory_mb(daphne))

        sampler = threading.Thread(target=sample)
        sampler.start()
        _stream_until_idle(stream, writer)
        done.set()
        client.join(30)
        sampling.set()
        sampler.join()
        for connection in idle:
            connection.close()
        figures.update(rss_before_mb=round(before, 1), rss_highest_mb=round(highest, 1),
                       rss_after_mb=round(memory_mb(daphne), 1), rss_growth_mb=round(highest - before, 1),
                       closed_behind=int(_metric(url, "trademonitor_websocket_clients_behind_total")))

    run_system(stream, listen, with_processes=True)
    return {"clients": clients, "rate": rate, "seconds": seconds, **figures, **timer.figures()}


def snapshot(trades: int, clients: int, rounds: int) -> dict:
    """Cold: one round, the web process's first clients (its copy is read once for all).
    Warm: `rounds` rounds beside a connected client; p50 / p99 / max over every round's
    clients, and the worst round's p99."""
    from benchmarks.query import load

    figures: dict = {"trades": trades, "clients": clients, "rounds": rounds}
    universe = bundled_universe()
    with scratch_database("snapshot") as (database, writer, _reader), \
            scratch_django_database() as django_database:
        figures["load_seconds"] = round(load(writer, trades, symbols=universe), 1)
        environment = {"CLICKHOUSE_URL": database_url(settings.CLICKHOUSE_URL, database),
                       "CLICKHOUSE_READONLY_URL": database_url(settings.CLICKHOUSE_READONLY_URL, database),
                       "DATABASE_URL": django_database}
        port = free_port()
        web = start_web(environment, port, log=WEB_LOG)
        url = f"ws://127.0.0.1:{port}/ws/live"
        try:
            cold, size = asyncio.run(_first_frames(url, clients, resident=False))
            warm = [asyncio.run(_first_frames(url, clients, resident=True))[0] for _ in range(rounds)]
            for case, times in (("cold", cold), ("warm", [time_ for round_ in warm for time_ in round_])):
                figures.update({f"{case}_p50_ms": round(percentile(times, 0.5), 1),
                                f"{case}_p99_ms": round(percentile(times, 0.99), 1),
                                f"{case}_max_ms": round(max(times), 1)})
            figures["warm_worst_round_p99_ms"] = round(max(percentile(times, 0.99) for times in warm), 1)
            figures["snapshot_bytes"] = size
            figures["clickhouse_snapshot_reads"] = int(_metric(url, "trademonitor_snapshot_reads_total"))
        finally:
            stop_pool(web, 20)
    return figures


async def _first_frames(url: str, count: int, resident: bool) -> tuple[list[float], int]:
    """Each of `count` clients' time from connecting to having its whole first frame, all
    started at once and staying connected until all have it, as pages opened together do;
    with `resident`, beside a client connected before them. And the first frame's size."""

    async def first_frame() -> tuple[float, int, Connection]:
        started = time.perf_counter()
        connection = await Connection.open(url)
        frame = await connection.receive_bytes()
        elapsed = (time.perf_counter() - started) * 1000
        if contract.frame_type(frame[:64].decode(errors="replace")) != contract.SNAPSHOT:
            raise RuntimeError(f"a client's first frame was {frame[:64]!r}, not the snapshot")
        return elapsed, len(frame), connection

    first = None
    if resident:
        first = await Connection.open(url)
        await first.receive_bytes()
    results = await asyncio.gather(*(first_frame() for _ in range(count)))
    for *_figures, connection in results:
        connection.close()
    if first is not None:
        first.close()
    return [elapsed for elapsed, _size, _connection in results], results[0][1]


def _never_reading(url: str) -> socket.socket:
    """A WebSocket client that sends the handshake and never reads a byte: its receive
    buffer is kept small, so what it is sent stays in daphne."""
    host, port = url.split("/")[2].split(":")
    connection = socket.socket()
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    connection.connect((host, int(port)))
    connection.sendall(opening_handshake(url))
    return connection


def fanout(clients: int, rate: int, seconds: float) -> dict:
    stream = Stream(f"bench-live-{uuid.uuid4().hex[:8]}", rate, seconds, record=True)
    told = Told(clients)

    def listen(url: str, stream: Stream, writer) -> None:
        nonlocal told
        with tempfile.TemporaryDirectory() as directory:
            sent_times = Path(directory) / "sent.pickle"
            fleet = ClientFleet(url, clients, sent_times=sent_times)
            _stream_until_idle(stream, writer)
            stream.save_sent_times(sent_times)
            told = fleet.stop()

    run_system(stream, listen)
    return {"clients": clients, "rate": rate, "seconds": seconds, **told.figures(stream.sent)}


def firstpage(trades: int, rate: int, seconds: float, checked: int, clickhouse: int) -> dict:
    """The drill-down's first page as the page asks for it (GET /api/symbols/<symbol>/trades),
    one random symbol after another on one connection, each followed by a /healthz (the
    same HTTP path doing nothing: daphne's floor), with `trades` trades loaded first while
    `rate` trades a second flow through the whole system and a dashboard is open (a web
    process follows the deltas, and keeps the pages, while one is). Then, the stream
    over, `checked` random symbols' pages against ClickHouse's first pages.
    `clickhouse`: 1 asks for each page with a cursor past every trade, which the API reads
    from ClickHouse: the same page, as it was served before pages were kept (the baseline)."""
    from clickhouse import queries
    from trademonitor.api import encode_cursor
    from trademonitor.dashboard import trade_json

    stream = Stream(f"bench-live-{uuid.uuid4().hex[:8]}", rate, seconds, record=False)
    universe = bundled_universe()
    rng = random.Random(11)
    before_all = (int(queries.END_OF_TIME.timestamp() * 1000), queries.LAST_UUID)  # what trades_page starts from
    start = f"&before={encode_cursor(before_all)}" if clickhouse else ""
    figures: dict = {}

    def listen(url: str, stream: Stream, writer) -> None:
        fleet = ClientFleet(url, 1)
        try:
            time_pages(url, stream, writer)
        finally:
            fleet.stop()

    def time_pages(url: str, stream: Stream, writer) -> None:
        address = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)

        def get(path: str) -> tuple[float, bytes]:
            begun = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"{path}: HTTP {response.status} {body[:200]!r}")
            return (time.perf_counter() - begun) * 1000, body

        def first_page(symbol: str) -> tuple[float, list]:
            took, body = get(f"/api/symbols/{urllib.parse.quote(symbol)}/trades?limit={contract.FIRST_PAGE}{start}")
            return took, orjson.loads(body)["trades"]

        started = time.monotonic()
        while _metric(url, PAGES_KEPT) < len(universe):
            if time.monotonic() - started > 300:
                raise RuntimeError("daphne did not keep every symbol's first page within 300 s")
            time.sleep(0.5)
        figures["pages_kept_after_s"] = round(time.monotonic() - started, 1)
        from_memory = _metric(url, MEMORY_PAGES)
        producer = threading.Thread(target=stream.run, daemon=True)
        producer.start()
        pages, floor = [], []
        while not stream.done.is_set():
            pages.append(first_page(rng.choice(universe))[0])
            floor.append(get("/healthz")[0])
        producer.join()
        figures["from_memory"] = int(_metric(url, MEMORY_PAGES) - from_memory)
        _wait_until_stored(writer, trades + stream.sent)
        exact = sum(first_page(symbol)[1] == [trade_json(trade) for trade in
                                              queries.trades_page(writer, symbol, limit=contract.FIRST_PAGE).trades]
                    for symbol in rng.sample(universe, checked))
        figures.update(pages=len(pages), p50_ms=round(percentile(pages, 0.5), 2),
                       p99_ms=round(percentile(pages, 0.99), 2), max_ms=round(max(pages), 2),
                       healthz_p50_ms=round(percentile(floor, 0.5), 2), healthz_p99_ms=round(percentile(floor, 0.99), 2),
                       pages_checked=checked, pages_as_stored=exact)

    # The API's rate limit is per address: this one client stands for many people's browsers.
    run_system(stream, listen, preload=trades, settings_environment={"API_RATE_LIMIT": "1000000/m"})
    return {"trades": trades, "rate": rate, "seconds": seconds, "from": "clickhouse" if clickhouse else "kept pages",
            "inserted_beside": stream.sent, **figures}


PAGES_KEPT = "trademonitor_drilldown_pages_kept"
MEMORY_PAGES = 'trademonitor_drilldown_first_pages_total{source="memory"}'
DRILLDOWN_READS = "trademonitor_drilldown_reads_total"


def drilldown(clients: int, open_drilldowns: int, symbols: int, rate: int, seconds: float) -> dict:
    """ClickHouse reads for open drill-downs: `clients` dashboards, `open_drilldowns` of them
    with a drill-down open on one of the `symbols` most traded symbols (round robin), while
    trades flow at `rate`. Reads are daphne's own count (trademonitor_drilldown_reads_total)."""
    stream = Stream(f"bench-live-{uuid.uuid4().hex[:8]}", rate, seconds, record=False)
    universe = bundled_universe()
    popular = universe[:symbols]  # the generator trades every symbol alike: any are as busy
    opened = [popular[i % len(popular)] for i in range(open_drilldowns)]
    figures: dict = {}

    def listen(url: str, stream: Stream, writer, processes: dict) -> None:
        fleet = ClientFleet(url, clients, opened)
        before, started = _metric(url, DRILLDOWN_READS), time.monotonic()
        _stream_until_idle(stream, writer)
        reads, elapsed = _metric(url, DRILLDOWN_READS) - before, time.monotonic() - started
        told = fleet.stop()
        figures.update(reads=int(reads), seconds=round(elapsed, 1), reads_per_s=round(reads / elapsed, 1),
                       reconnections=told.reconnections)

    run_system(stream, listen, with_processes=True)
    return {"clients": clients, "open_drilldowns": open_drilldowns, "symbols": len(popular), "rate": rate,
            "sent": stream.sent, **figures}


def _metric(url: str, name: str) -> float:
    """A counter of daphne's /metrics (the WebSocket `url`'s host)."""
    import urllib.request

    metrics_url = url.replace("ws://", "http://").replace("/ws/live", "/metrics")
    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
    return 0.0


@dataclass
class Told:
    """What a fleet of clients was told, client by client: the trades each was told of
    (exact counts, so one client's repeats cannot hide another's losses), the per-trade
    ages of the timed clients' trades and where that time went (TradeTimer's stages),
    and how often they reconnected."""

    clients: int
    delivered: list[int] = field(default_factory=list)  # trades each client was told of
    ages: list[int] = field(default_factory=list)  # ms from production to the update, per trade
    client_p99s: list[float] = field(default_factory=list)  # each timed client's age p99, ms
    reconnections: int = 0
    stages: dict[str, list[int]] = field(default_factory=lambda: {stage: [] for stage in STAGES})

    def figures(self, sent: int) -> dict:
        """Per-client delivery against `sent`: the lowest client's count, and how many
        clients were told of fewer trades (missed) or more (repeated)."""
        return {
            "clients_told_everything": sum(n == sent for n in self.delivered),
            "clients_missing": sum(n < sent for n in self.delivered),
            "clients_repeating": sum(n > sent for n in self.delivered),
            "min_client_delivered": min(self.delivered, default=0),
            "sent": sent,
            "age_p50_ms": round(percentile(self.ages, 0.5), 1) if self.ages else None,
            "age_p99_ms": round(percentile(self.ages, 0.99), 1) if self.ages else None,
            "age_max_ms": max(self.ages, default=None),
            # No timed client, no figure: 0.0 would read as "no delay".
            "worst_client_age_p99_ms": round(max(self.client_p99s), 1) if self.client_p99s else None,
            "timed_trades": len(self.ages),
            "reconnections": self.reconnections,
            **stage_figures(self.stages),
        }


class ClientFleet:
    """Dashboard clients in processes of their own, connected (snapshot received) on
    return from the constructor. One Python process could not read 200 sockets as fast
    as daphne writes them, nor keep answering keepalive pings.

    Every client counts the trades it is told of. Every TIME_EVERY-th client also times
    each of its trades, as `latency` does (a symbol's count says which trades an update
    counts): the production times are read from `sent_times` once the stream is over.
    Timing all 200 would hold every update's per-symbol counts of every client in memory."""

    PROCESSES = 4
    TIME_EVERY = 10

    def __init__(self, url: str, clients: int, drill_downs: list[str] | None = None,
                 sent_times: Path | None = None):
        """`drill_downs`: one symbol for each client that has a drill-down open;
        `sent_times`: where the stream's production times will be (pickled), to time trades."""
        self.clients = clients
        context = multiprocessing.get_context("fork")
        ready, self._results, self._done = context.Queue(), context.Queue(), context.Event()
        shares = [clients // self.PROCESSES + (i < clients % self.PROCESSES) for i in range(self.PROCESSES)]
        opened = list(drill_downs or [])
        self._processes = [context.Process(
            target=_fleet_clients,
            args=(url, n, ready, self._results, self._done, opened[i::self.PROCESSES], sent_times, self.TIME_EVERY))
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
            delivered, ages, stages, client_p99s, reconnections = self._results.get(timeout=300)
            told.delivered.extend(delivered)
            told.ages.extend(ages)
            for stage, durations in stages.items():
                told.stages[stage].extend(durations)
            told.client_p99s.extend(client_p99s)
            told.reconnections += reconnections
        for process in self._processes:
            process.join(30)
        return told


class TimedFrames:
    """A client process's decoded delta frames: each one's trades per symbol and stage spans.
    The hub sends every client the same frame for an update, so a frame is decoded once for
    all the process's timed clients, not once each: decoding was a large share of the client
    processes' CPU, taken from the system they measure (docs/benchmarks/design.md)."""

    KEPT = 64  # frames kept decoded: a few updates' worth

    def __init__(self) -> None:
        self._decoded: dict[str, tuple[dict[str, int], list[dict]]] = {}
        self.decodes = 0

    def counts_and_stages(self, frame: str) -> tuple[dict[str, int], list[dict]]:
        found = self._decoded.get(frame)
        if found is None:
            if len(self._decoded) >= self.KEPT:
                self._decoded.clear()
            update = orjson.loads(frame)
            self.decodes += 1
            found = self._decoded[frame] = (
                {symbol: totals[contract.Totals.TRADES] for symbol, totals in update["symbols"].items()},
                update.get("stages", []))
        return found


def _fleet_clients(url: str, count: int, ready, results, done, drill_downs: list[str], sent_times: Path | None,
                   time_every: int) -> None:
    delivered = [0] * count
    timed = {i for i in range(count) if sent_times and i % time_every == 0}
    # Per timed client, each update: when it was read, its trades per symbol, its stamps.
    updates: dict[int, list[tuple[int, dict[str, int], list[dict]]]] = {i: [] for i in timed}
    decoded = TimedFrames()

    def on_delta(client: int, frame: str, at: int) -> None:
        # Counts from the frame's first bytes (contract.delta_counts): decoding every frame
        # whole would cost the client processes more CPU than daphne spends writing them.
        counts = contract.delta_counts(frame)
        assert counts is not None, frame[:100]
        delivered[client] += counts[0]
        if client in timed:
            updates[client].append((at, *decoded.counts_and_stages(frame)))

    reconnections = asyncio.run(run_clients(url, count, on_delta, lambda: ready.put(count), done.is_set, drill_downs))
    ages: list[int] = []
    stages: dict[str, list[int]] = {stage: [] for stage in STAGES}
    client_p99s: list[float] = []
    if timed and sent_times is not None:
        with open(sent_times, "rb") as file:
            sent_at, sent_at_offset = pickle.load(file)
        for client in sorted(timed):
            mine = _trade_ages(updates[client], sent_at)
            ages.extend(mine)
            if mine:
                client_p99s.append(percentile(mine, 0.99))
            for at, _counts, spans in updates[client]:
                split_stages(spans, at, sent_at_offset, stages)
    results.put((delivered, ages, stages, client_p99s, reconnections))


def _trade_ages(updates: list[tuple[int, dict[str, int], list[dict]]], sent_at: dict[str, list[int]]) -> list[int]:
    """Each trade's age when the first update counting it arrived: a symbol's trades are
    counted in the order they were sent (Stream), so the n an update adds are the next n."""
    seen: dict[str, int] = defaultdict(int)
    ages = []
    for at, counts, _spans in updates:
        for symbol, n in counts.items():
            first = seen[symbol]
            ages.extend(at - sent for sent in sent_at.get(symbol, [])[first:first + n])
            seen[symbol] = first + n
    return ages


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
