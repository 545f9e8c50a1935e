"""Fault injection: a replay of 1,000,000 trades (and 320 bad messages) through
`runworkers --processes 2`, daphne and dashboard clients, while one thing after
another breaks. After each scenario nothing is lost or duplicated, the kept totals
equal the trades, every dead letter is there, and every dashboard client shows
ClickHouse's totals once it has resynchronised.

Each scenario appends its figures to FAULTS_RESULTS (JSON lines; default
.devservices/faults.jsonl); `make faults-report` runs this module and turns them
into RELIABILITY.md.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from clickhouse import queries
from devservices.services import Kafka, Redis, configured_services
from infra.kafka import client_config
from producer import malformed
from tests.conftest import BUNDLED_SYMBOLS, PROJECT_DIR, free_port
from tests.mirror import Mirrors
from tests.pipeline import Pipeline

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.faults]
logger = logging.getLogger(__name__)

TRADES = 1_000_000
RATE = 25_000  # trades a second: the replay lasts ~40 s, so the faults land while it runs
SYMBOLS = BUNDLED_SYMBOLS[:300]
RESULTS = Path(os.environ.get("FAULTS_RESULTS", PROJECT_DIR / ".devservices" / "faults.jsonl"))


def bad_messages() -> list[tuple[bytes | None, bytes]]:
    rng = random.Random(9)
    messages = []
    for kind in sorted(malformed.KINDS):
        for _ in range(10):
            trade = (str(uuid.UUID(int=rng.getrandbits(128), version=4)), int(time.time() * 1000), SYMBOLS[0], 2501, 9)
            bad = malformed.make(kind, trade, rng)
            messages.append((bad.key, bad.value))
    return messages


class Replay:
    """The trades produced at RATE in a thread, the pool, daphne and `clients` dashboards."""

    def __init__(self, pipeline: Pipeline, clients: int = 3):
        self.pipeline = pipeline
        self.bad = bad_messages()
        self.web_port = free_port()
        self.clients = clients
        self.faults = 0
        self.recoveries: list[float] = []
        self.started = time.monotonic()

    def start(self, *pool_arguments: str):
        self.producer = threading.Thread(
            target=self.pipeline.produce, args=(TRADES, SYMBOLS), kwargs={"seed": 17, "extra": self.bad, "rate": RATE},
            daemon=True)
        self.producer.start()
        self.web = self.pipeline.start_web(self.web_port)
        self.mirrors = Mirrors(self.web_port, self.clients)
        self.mirrors.wait_connected()
        self.pool = self.start_pool(*pool_arguments)
        return self.pool

    def start_pool(self, *pool_arguments: str):
        # Workers are killed on purpose here faster than the crash-loop guard allows.
        return self.pipeline.start_pool(2, "--max-crashes", "1000", *pool_arguments)

    def count(self) -> int:
        try:
            return self.pipeline.count()
        except Exception:  # noqa: BLE001 - ClickHouse may be the thing that is down
            return -1

    def wait_until_stored(self, fraction: float, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < TRADES * fraction:
            assert time.monotonic() < deadline, f"{self.count()} stored, waiting for {TRADES * fraction:.0f}"
            time.sleep(0.2)

    def recovered(self, timeout: float = 120.0) -> float:
        """Seconds from now (the fault's end) until ClickHouse's trade count grows again,
        or all trades are in. While ClickHouse itself comes back, counting fails (-1):
        its first answer is then the count to grow from."""
        started = time.monotonic()
        before = self.count()
        while True:
            now = self.count()
            if before < 0:
                before = now
            elif now > before or now >= TRADES:
                break
            assert time.monotonic() - started < timeout, "ingestion did not resume"
            time.sleep(0.05)
        self.faults += 1
        self.recoveries.append(time.monotonic() - started)
        return self.recoveries[-1]

    def finish(self, scenario: str, size: str) -> None:
        """Wait for everything, measure, record, then assert."""
        self.producer.join(300)
        stored = self.pipeline.wait_for(TRADES, timeout=300)
        client = self.pipeline.clickhouse()
        count, distinct = client.query("SELECT count(), uniqExact(id) FROM trades").result_rows[0]
        differences = queries.totals_check(client)
        letters = self.dead_letters()
        snapshot = queries.snapshot(client)
        expected = {symbol: (t.trades, t.shares, int(t.volume * 100)) for symbol, t in snapshot.totals.items()}
        try:
            converged = round(self.mirrors.wait_equal(expected, timeout=60), 1)
            clients_error = None
        except AssertionError as exc:
            converged, clients_error = None, str(exc)
        produced = self.pipeline.tally.count
        outcome = {
            "scenario": scenario, "size": size, "faults": self.faults, "produced": produced, "stored": count,
            "lost": produced - distinct, "duplicated": count - distinct, "totals_differences": len(differences),
            "bad_sent": len(self.bad), "dead_lettered": len(letters), "clients": self.clients,
            "clients_exact": clients_error is None, "clients_converged_s": converged,
            "client_snapshots": self.mirrors.snapshots,
            "recover_s_max": round(max(self.recoveries), 2) if self.recoveries else None,
            "recover_s_median": round(sorted(self.recoveries)[len(self.recoveries) // 2], 2) if self.recoveries else None,
            "elapsed_s": round(time.monotonic() - self.started, 1),
        }
        logger.warning("fault scenario %s", json.dumps(outcome))
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with RESULTS.open("a") as results:
            results.write(json.dumps(outcome) + "\n")
        self.mirrors.close()

        assert stored == count == distinct == produced, outcome
        assert differences == [], differences[:3]
        assert len(letters) == len(self.bad), outcome  # every bad message, by its source position
        assert clients_error is None, clients_error
        tally = self.pipeline.tally
        assert expected == {s: (n, tally.shares[s], tally.volume_cents[s]) for s, n in tally.trades.items()}
        assert all(isinstance(t.volume, Decimal) for t in snapshot.totals.values())

    def dead_letters(self) -> set[tuple[int, int]]:
        """The distinct source positions in the dead-letter topic (dead letters are at least once)."""
        consumer = Consumer(client_config(**{"group.id": uuid.uuid4().hex, "auto.offset.reset": "earliest"}))
        consumer.subscribe([f"{self.pipeline.topic}.dlq"])
        positions: set[tuple[int, int]] = set()
        deadline = time.monotonic() + 60
        while len(positions) < len(self.bad) and time.monotonic() < deadline:
            for message in consumer.consume(500, timeout=1):
                if message.error() is None:
                    headers = dict(message.headers())
                    positions.add((int(headers["source_partition"]), int(headers["source_offset"])))
        consumer.close()
        return positions


def service(kind: type):
    return next(s for s in configured_services() if isinstance(s, kind))


@pytest.fixture
def replay(services, symbol_db):
    pipeline = Pipeline(symbol_db)
    yield Replay(pipeline)
    pipeline.close()


def test_workers_killed_every_few_seconds(replay):
    pool = replay.start()
    rng = random.Random(3)
    replay.wait_until_stored(0.02)
    for _ in range(10):
        time.sleep(2.5)
        workers = replay.pipeline.worker_pids(pool)
        if workers:
            os.kill(rng.choice(workers), signal.SIGKILL)
        replay.recovered()
    replay.finish("worker SIGKILLed every 2.5 s", "10 kills")


def test_supervisor_killed_and_restarted(replay):
    pool = replay.start()
    replay.wait_until_stored(0.3)
    workers = replay.pipeline.worker_pids(pool)
    os.kill(pool.pid, signal.SIGKILL)
    pool.wait(10)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers):  # they die with their supervisor
        assert time.monotonic() < deadline, "workers outlived their supervisor"
        time.sleep(0.1)
    replay.start_pool()
    replay.recovered()
    replay.finish("supervisor SIGKILLed, then started again", "1 kill")


@pytest.fixture
def endpoint_replay(services, symbol_db, endpoint):
    pipeline = Pipeline(symbol_db, endpoint.url, f"http://reader:secret@127.0.0.1:{endpoint.port}/default")
    replay = Replay(pipeline)
    replay.endpoint = endpoint
    yield replay
    pipeline.close()


def test_clickhouse_endpoint_killed_and_restarted_twice(endpoint_replay):
    replay = endpoint_replay
    replay.start()
    for fraction in (0.2, 0.5):
        replay.wait_until_stored(fraction)
        replay.endpoint.process.kill()
        replay.endpoint.process.wait(10)
        time.sleep(3)
        replay.endpoint.start()
        replay.recovered()
    replay.finish("ClickHouse endpoint SIGKILLed and restarted", "2 kills, 3 s down each")


@pytest.mark.parametrize("kind, seconds, scenario", [
    (Kafka, 3, "Kafka broker stopped and restarted"),
    (Redis, 15, "Redis stopped for 15 s"),
])
def test_a_service_stopped_and_started_again(replay, kind, seconds, scenario):
    replay.start()
    replay.wait_until_stored(0.3)
    stopped = service(kind)
    stopped.down()
    time.sleep(seconds)
    stopped.up()
    replay.recovered()
    replay.finish(scenario, f"1 stop, {seconds} s + start")


def test_daphne_restarted_with_20_clients(services, symbol_db):
    pipeline = Pipeline(symbol_db)
    replay = Replay(pipeline, clients=20)
    try:
        replay.start()
        replay.wait_until_stored(0.3)
        before = replay.mirrors.snapshots
        replay.web.send_signal(signal.SIGTERM)
        replay.web.wait(30)
        restarted = time.monotonic()
        replay.web = pipeline.start_web(replay.web_port)
        while replay.mirrors.snapshots < before + 20:  # every client back, from a fresh snapshot
            assert time.monotonic() - restarted < 60, "clients did not reconnect"
            time.sleep(0.1)
        replay.faults += 1
        replay.recoveries.append(time.monotonic() - restarted)
        replay.finish("daphne restarted with 20 WebSocket clients", "1 restart")
    finally:
        pipeline.close()
