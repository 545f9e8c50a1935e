"""Fault injection: a replay of 1,000,000 trades (and 340 bad messages, 10 of each kind) through
`runworkers --processes 2`, daphne and dashboard clients, while one thing after
another breaks. After each scenario nothing is lost or duplicated, what ClickHouse
stored is exactly what the producer sent (ids, per-symbol trades, shares, volume),
the totals and the candles agree with the stored trades, every dead letter is there,
and every dashboard client shows the producer's totals once it has resynchronised.

Each fault is proved: a killed process was alive and then gone, a stopped service
answered, stopped answering and answered again, a lost answer was answered by
ClickHouse. Recovery is timed for what was broken: every Kafka partition's stored
position advances again (a killed worker's partitions among them), or, for Redis,
every dashboard receives deltas again.

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
from confluent_kafka import Consumer, KafkaException, TopicPartition
from django.conf import settings

from clickhouse import queries
from devservices.services import Kafka, Redis, configured_services
from harness.provenance import provenance
from harness.tally import Tally
from infra.kafka import client_config
from producer import malformed
from tests.conftest import BUNDLED_SYMBOLS, PROJECT_DIR, free_port
from tests.mirror import Mirrors
from tests.pipeline import Pipeline
from tests.proxy import LosingProxy

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

    def positions(self) -> dict[int, int] | None:
        """Kafka partition -> highest offset stored; None while ClickHouse does not answer."""
        try:
            rows = self.pipeline.clickhouse().query(
                "SELECT kafka_partition, max(kafka_offset) FROM trades GROUP BY kafka_partition").result_rows
        except Exception:  # noqa: BLE001 - ClickHouse may be the thing that is down
            return None
        return {int(partition): int(offset) for partition, offset in rows}

    def ends(self) -> dict[int, int] | None:
        """Kafka partition -> its last offset now; None while Kafka cannot say (it is coming back)."""
        consumer = Consumer(client_config(**{"group.id": uuid.uuid4().hex}))
        try:
            return {p: consumer.get_watermark_offsets(TopicPartition(self.pipeline.topic, p), timeout=10)[1] - 1
                    for p in range(3)}
        except KafkaException:
            return None
        finally:
            consumer.close()

    def recovered(self, timeout: float = 180.0) -> float:
        """Seconds from now (the fault's end) until every partition's stored position has
        advanced, or reached the partition's end: whatever the fault stopped (a killed
        worker's partitions, all of them for a service) is ingested again. While ClickHouse
        itself comes back, its first answer is the position to advance from."""
        started = time.monotonic()
        before = self.positions()
        while True:
            now = self.positions()
            if before is None:
                before = now
            elif now is not None and (ends := self.ends()) is not None and all(
                    now.get(p, -1) > before.get(p, -1) or now.get(p, -1) >= ends[p] for p in range(3)):
                break
            assert time.monotonic() - started < timeout, f"ingestion did not resume: {before} -> {now}"
            time.sleep(0.05)
        return self.record_recovery(started)

    def dashboards_recovered(self, timeout: float = 120.0) -> float:
        """Seconds from now until every dashboard client has received a delta again."""
        started, before = time.monotonic(), self.mirrors.deltas()
        while any(now <= then for now, then in zip(self.mirrors.deltas(), before, strict=True)):
            assert time.monotonic() - started < timeout, "dashboards got no delta again"
            time.sleep(0.05)
        return self.record_recovery(started)

    def record_recovery(self, started: float) -> float:
        self.faults += 1
        self.recoveries.append(time.monotonic() - started)
        return self.recoveries[-1]

    def kill_a_worker(self, pool, rng: random.Random) -> None:
        """SIGKILL one of the pool's workers, once there is one; returns once it is gone."""
        deadline = time.monotonic() + 60
        while not (workers := self.pipeline.worker_pids(pool)):
            assert time.monotonic() < deadline, "the pool has no worker to kill"
            time.sleep(0.05)
        victim = rng.choice(workers)
        assert alive(victim)
        os.kill(victim, signal.SIGKILL)
        wait_gone(victim)

    def finish(self, scenario: str, size: str) -> None:
        """Wait for everything, measure, record, then assert."""
        self.producer.join(300)
        stored = self.pipeline.wait_for(self.pipeline.tally.count, timeout=300)
        client = self.pipeline.clickhouse()
        count, distinct = client.query("SELECT count(), uniqExact(id) FROM trades").result_rows[0]
        differences = queries.totals_check(client) + queries.candles_check(client)
        letters = self.dead_letters()
        snapshot = queries.snapshot(client)
        tally = self.pipeline.tally
        expected = {s: (n, tally.shares[s], tally.volume_cents[s]) for s, n in tally.trades.items()}
        stored_differences = tally.differences(Tally.stored(client))
        try:
            converged = round(self.mirrors.wait_equal(expected, timeout=60), 1)
            clients_error = None
        except AssertionError as exc:
            converged, clients_error = None, str(exc)
        produced = self.pipeline.tally.count
        outcome = {
            "scenario": scenario, "size": size, "faults": self.faults, "produced": produced, "stored": count,
            "lost": produced - distinct, "duplicated": count - distinct, "totals_differences": len(differences),
            "stored_equals_sent": not stored_differences,
            "bad_sent": len(self.bad), "dead_lettered": len(letters), "clients": self.clients,
            "clients_exact": clients_error is None, "clients_converged_s": converged,
            "client_snapshots": self.mirrors.snapshots,
            "recover_s_max": round(max(self.recoveries), 2) if self.recoveries else None,
            "recover_s_median": round(sorted(self.recoveries)[len(self.recoveries) // 2], 2) if self.recoveries else None,
            "elapsed_s": round(time.monotonic() - self.started, 1),
            **provenance(),
        }
        logger.warning("fault scenario %s", json.dumps(outcome))
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with RESULTS.open("a") as results:
            results.write(json.dumps(outcome) + "\n")
        self.mirrors.close()

        assert stored == count == distinct == produced, outcome
        assert stored_differences == [], stored_differences
        assert differences == [], differences[:3]
        assert len(letters) == len(self.bad), outcome  # every bad message, by its source position
        assert clients_error is None, clients_error
        assert {s: (t.trades, t.shares, int(t.volume * 100)) for s, t in snapshot.totals.items()} == expected
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


def state(pid: int) -> str:
    """The process's state letter (R, S, T stopped, Z zombie...); "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]
    except (FileNotFoundError, ProcessLookupError, IndexError):  # ESRCH: reaped while read
        return ""


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, killed but not yet reaped, does not)."""
    return state(pid) not in ("", "Z")


def wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"process {pid} still runs"
        time.sleep(0.01)


def stop_service(stopped, seconds: float) -> None:
    """Stop a service that answers, check it no longer does for `seconds`, start it, check it answers."""
    assert stopped.healthy(), f"{stopped.name} did not answer before the fault"
    stopped.down()
    assert not stopped.healthy(), f"{stopped.name} still answers"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert not stopped.healthy(), f"{stopped.name} came back by itself"
        time.sleep(0.5)
    stopped.up()
    assert stopped.healthy(), f"{stopped.name} did not come back"


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
        time.sleep(2.5)  # the fault's rhythm (not a wait for a condition): a kill 2.5 s after recovery
        replay.kill_a_worker(pool, rng)
        replay.recovered()
    replay.finish("a worker SIGKILLed 2.5 s after ingestion resumed from the last kill", "10 kills")


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
        process = replay.endpoint.process
        assert alive(process.pid)
        process.kill()
        process.wait(10)
        assert replay.positions() is None  # it no longer answers
        replay.endpoint.start()
        replay.recovered()
    replay.finish("ClickHouse endpoint SIGKILLed and restarted", "2 kills")


def test_clickhouse_hanging_longer_than_the_insert_timeout(endpoint_replay):
    """Not dead but frozen (SIGSTOP): connections open, nothing answers, for longer than
    the workers' 30 s insert timeout. Their inserts time out and are retried, unanswered."""
    replay = endpoint_replay
    replay.start()
    replay.wait_until_stored(0.2)
    process = replay.endpoint.process
    os.kill(process.pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 10
        while state(process.pid) != "T":  # the signal is delivered asynchronously
            assert time.monotonic() < deadline, f"the endpoint is not stopped: state {state(process.pid)}"
            time.sleep(0.01)
        time.sleep(35)  # the fault itself: a frozen server, past the insert timeout
    finally:
        os.kill(process.pid, signal.SIGCONT)
    replay.recovered()
    replay.finish("ClickHouse endpoint frozen (SIGSTOP) past the insert timeout", "1 stop, 35 s")


@pytest.mark.parametrize("kind, seconds, scenario", [
    (Kafka, 3, "Kafka broker stopped and restarted"),
    (Kafka, 15, "Kafka broker down longer than the consumers' session timeout (10 s): a rebalance"),
])
def test_kafka_stopped_and_started_again(replay, kind, seconds, scenario):
    replay.start()
    replay.wait_until_stored(0.3)
    stop_service(service(kind), seconds)
    replay.recovered()
    replay.finish(scenario, f"1 stop, {seconds} s + start")


def test_redis_stopped_and_started_again(replay):
    replay.start()
    replay.wait_until_stored(0.3)
    stop_service(service(Redis), 15)
    replay.dashboards_recovered()
    replay.finish("Redis stopped for 15 s", "1 stop, 15 s + start")


def test_a_second_pool_joins_under_load_and_vanishes(replay):
    """A second pool joins the group (a rebalance under load) and is SIGKILLed with its
    workers mid-flush; meanwhile the first drains on SIGTERM and is started again."""
    first = replay.start()
    replay.wait_until_stored(0.2)
    second = replay.start_pool()
    deadline = time.monotonic() + 60
    while len(replay.pipeline.worker_pids(second)) < 2:
        assert time.monotonic() < deadline, "the second pool did not start its workers"
        time.sleep(0.1)
    replay.wait_until_stored(0.4)
    assert replay.pipeline.stop(first) == 0  # drained: flushed, inserted, committed
    doomed = [second.pid, *replay.pipeline.worker_pids(second)]
    os.killpg(second.pid, signal.SIGKILL)
    for pid in doomed:
        wait_gone(pid)
    replay.start_pool()
    replay.recovered()
    replay.finish("a second pool joined under load, then vanished (SIGKILL) while the first drained and restarted",
                  "1 join, 1 drain, 1 kill")


def test_an_insert_applied_but_its_answer_lost(services, symbol_db):
    """Between the workers and ClickHouse, a proxy loses the answers to three inserts that
    ClickHouse applied. The workers retry them with the same token; ClickHouse drops the repeats."""
    upstream = next(s for s in configured_services() if s.name == "clickhouse")
    proxy = LosingProxy(upstream.address[1])
    writer_url = settings.CLICKHOUSE_URL.replace(f":{upstream.address[1]}/", f":{proxy.port}/")
    pipeline = Pipeline(symbol_db, clickhouse_url=writer_url)
    replay = Replay(pipeline)
    try:
        replay.start()
        replay.wait_until_stored(0.2)
        proxy.drop(3)
        deadline = time.monotonic() + 60
        while proxy.dropped < 3:
            assert time.monotonic() < deadline, "no insert answer was lost"
            time.sleep(0.05)
        replay.recovered()
        replay.finish("an insert applied by ClickHouse whose answer was lost (proxy)", "3 answers lost")
    finally:
        proxy.close()
        pipeline.close()


def test_a_producer_clock_ten_minutes_fast(replay):
    """Future-dated trades are stored (and counted as such), never dead-lettered: a skewed
    clock must not stop the pool or lose a trade (README, "The worker pool")."""
    pipeline = replay.pipeline
    pool = replay.start()
    replay.wait_until_stored(0.2)
    pipeline.produce(20_000, SYMBOLS, seed=18, clock_offset_ms=10 * 60 * 1000)  # beside the replay's producer
    replay.faults += 1
    replay.wait_until_stored(1.0)
    assert pool.poll() is None  # the pool goes on
    replay.finish("a producer whose clock is 10 minutes fast (20,000 trades)", "20,000 future-dated trades")


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
