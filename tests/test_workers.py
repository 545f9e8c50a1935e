"""`runworkers` end to end: real Kafka, the ClickHouse endpoint, Redis."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import threading
import time
from dataclasses import replace

import pytest
from channels.layers import get_channel_layer
from confluent_kafka import Consumer, TopicPartition
from django.conf import settings

import contract
from clickhouse import ledger, queries
from devservices.services import configured_services
from infra.kafka import client_config, ensure_topic
from infra.layer import Receiver
from producer import malformed
from producer.trades import now_ms
from tests.conftest import BUNDLED_SYMBOLS
from tests.pipeline import Pipeline
from tests.proxy import LosingProxy
from trademonitor.live import GAP, Continuity
from workers.batch import Batch
from workers.deadletters import MAX_VALUE_BYTES
from workers.ingest import IngestJob
from workers.validation import TradeRules

pytestmark = [pytest.mark.services, pytest.mark.slow]

SYMBOLS = BUNDLED_SYMBOLS[:500]


def test_a_backlog_of_two_hundred_thousand_trades_is_ingested_exactly_in_full_batches(pipeline):
    pipeline.produce(200_000, SYMBOLS)
    pool = pipeline.start_pool(2)

    assert pipeline.wait_for(200_000) == 200_000
    assert pipeline.stop(pool) == 0
    pipeline.assert_exact()
    # One insert, one partition and one `ingested_at`. Batches of 50,000, split over the
    # partitions a worker holds, make about a dozen inserts, plus a few small ones while the
    # consumers start; closed by the clock (--max-batch-ms) they would be hundreds.
    inserts, in_large = pipeline.clickhouse().query(
        "SELECT count(), sumIf(rows, rows >= 10000) FROM "
        "(SELECT kafka_partition, ingested_at, count() AS rows FROM trades GROUP BY ALL)").result_rows[0]
    assert inserts <= 24 and in_large >= 150_000, (inserts, in_large)


def test_exact_while_workers_are_killed(pipeline):
    pipeline.produce(200_000, SYMBOLS, seed=2)
    pool = pipeline.start_pool(2, "--max-batch-rows", "5000")
    rng = random.Random(7)
    kills = 0
    deadline = time.monotonic() + 120
    while kills < 3 and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.5, 2.0))
        workers = pipeline.worker_pids(pool)
        if workers and pipeline.count() < 200_000:
            os.kill(rng.choice(workers), signal.SIGKILL)
            kills += 1
    if kills < 3:  # ingestion finished first: keep killing while it is idle, it must stay exact
        for _ in range(3 - kills):
            victim = rng.choice(pipeline.worker_pids(pool))
            os.kill(victim, signal.SIGKILL)
            while victim in pipeline.worker_pids(pool) or len(pipeline.worker_pids(pool)) < 2:  # replaced
                assert time.monotonic() < deadline + 60, "the killed worker was not replaced"
                time.sleep(0.1)

    assert pipeline.wait_for(200_000) == 200_000
    pipeline.wait_committed(200_000)
    assert pipeline.stop(pool) == 0
    pipeline.assert_exact()


def test_sigterm_drains_and_commits_what_was_inserted(pipeline):
    pipeline.produce(50_000, SYMBOLS, seed=3)
    pool = pipeline.start_pool(2)
    assert pipeline.wait_for(50_000) == 50_000

    started = time.monotonic()
    assert pipeline.stop(pool) == 0
    assert time.monotonic() - started < 25

    ingested = queries.ingested_offsets(pipeline.clickhouse())
    assert pipeline.committed() == {partition: offset + 1 for partition, offset in ingested.items()}
    entries = ledger.read(pipeline.clickhouse(), "ingest", pipeline.topic)
    assert {p: (e.last + 1, e.state) for p, e in entries.items()} == {
        p: (offset, ledger.State.DONE) for p, offset in pipeline.committed().items()}
    pipeline.assert_exact()


def test_bad_messages_are_dead_lettered_and_good_ones_exact(pipeline):
    rng = random.Random(11)
    bad = []
    for kind in sorted(malformed.KINDS):
        for _ in range(3):
            trade = (f"5a3e4f0e-1111-4222-8333-{rng.getrandbits(48):012x}", int(time.time() * 1000), SYMBOLS[0],
                     2501, 99)
            bad.append(malformed.make(kind, trade, rng))
    pipeline.produce(20_000, SYMBOLS, seed=4, extra=[(b.key, b.value) for b in bad])
    pool = pipeline.start_pool(2)

    assert pipeline.wait_for(20_000) == 20_000
    letters = pipeline.dead_letters(len(bad))
    assert pipeline.stop(pool) == 0
    pipeline.assert_exact()

    got = sorted((dict(m.headers())["reason"].decode(), m.value(), dict(m.headers()).get("truncated_from"))
                 for m in letters)
    # Values past the dead-letter limit arrive cut, saying how long they were.
    assert got == sorted((b.reason, b.value[:MAX_VALUE_BYTES],
                          str(len(b.value)).encode() if len(b.value) > MAX_VALUE_BYTES else None) for b in bad)
    for message in letters:
        headers = dict(message.headers())
        assert headers["source_topic"].decode() == pipeline.topic
        assert int(headers["source_offset"]) >= 0 and headers["detail"]


def test_a_topic_of_another_format_stops_the_pool_without_committing(pipeline):
    # Most of the last 10,000 messages invalid: the topic carries something else, and
    # dead-lettering all of it would only hide that. The batch in hand is not committed
    # (one flushed while the consumer started may have been).
    pipeline.produce(100, SYMBOLS, seed=6, extra=[(b"k%d" % i, b'{"order": %d}' % i) for i in range(12_000)])
    pool = pipeline.start_pool(1)

    assert pool.wait(timeout=90) == 2  # the supervisor's code for a worker that a restart cannot fix
    assert sum(max(0, offset) for offset in pipeline.committed().values()) < 10_000


def test_a_partial_write_is_never_committed_and_is_replayed_exactly_once_fixed(pipeline, tmp_path):
    """A deterministic partial write: candles_1m refuses one trade after `trades` and
    `symbol_totals` took its block. The worker stops with ClickHouse's reason and commits
    nothing past it; the ledger keeps the range pending. Once the constraint is lifted,
    the next pool replays exactly that range: every table is exact against the producer.
    The old resume rule, max(symbol_totals.max_offset) + 1, would have started past the
    range and lost its candles for good (asserted below, before the restart)."""
    client = pipeline.clickhouse()
    client.command("ALTER TABLE candles_1m ADD CONSTRAINT sane CHECK high < 10000")
    pipeline.produce(300, SYMBOLS, seed=21)  # prices stay under $2,000
    log = tmp_path / "runworkers.log"
    pool = pipeline.start_pool(1, log=log)
    assert pipeline.wait_for(300) == 300
    before, deadline = pipeline.committed(), time.monotonic() + 30
    while sum(before.values()) < 300 and time.monotonic() < deadline:  # commits follow inserts
        before = pipeline.committed()
    assert sum(before.values()) == 300

    refused_id = pipeline.send_trades([(SYMBOLS[0], 1_500_000, 10, now_ms(), 1)])[0]

    assert pool.wait(timeout=120) == 2  # the supervisor's code for a worker that a restart cannot fix
    refused_offset = client.command("SELECT kafka_offset FROM trades WHERE id = {id:UUID}",
                                    parameters={"id": refused_id})
    assert pipeline.committed() == {**before, 1: refused_offset}  # the refused trade is the next to read
    text = log.read_text()
    # Each line names its process: the supervisor's name for the worker, job and slot.
    assert (f"ERROR ingest-worker-0 workers.consumer: ClickHouse refused the insert of {pipeline.topic}/1 "
            f"offsets {refused_offset}-{refused_offset}") in text
    assert "VIOLATED_CONSTRAINT" in text

    # The partial write: the trade and its totals are stored, its candle is not.
    assert ledger.read(client, "ingest", pipeline.topic)[1] == ledger.Entry(
        1, refused_offset, refused_offset, ledger.State.PENDING)
    assert queries.ingested_offsets(client)[1] == refused_offset  # the old rule would resume past it
    assert pipeline.tally.view_differences(client, sentiment=False) != []

    client.command("ALTER TABLE candles_1m DROP CONSTRAINT sane")
    pool = pipeline.start_pool(1, "--job", "ingest", "--job", "sentiment", log=tmp_path / "again.log")
    pipeline.wait_committed(301)
    pipeline.wait_committed(301, group=f"{pipeline.group}.sentiment")
    assert pipeline.stop(pool) == 0
    assert f"replays its pending range {refused_offset}-{refused_offset}" in (tmp_path / "again.log").read_text()
    pipeline.assert_exact()
    assert pipeline.tally.view_differences(client) == []
    assert ledger.read(client, "ingest", pipeline.topic)[1].state is ledger.State.DONE


def test_a_third_worker_joining_midway_stays_exact(pipeline):
    pipeline.produce(150_000, SYMBOLS, seed=5)
    first = pipeline.start_pool(2, "--max-batch-rows", "5000")
    while pipeline.count() < 20_000:
        time.sleep(0.2)
    second = pipeline.start_pool(1, "--max-batch-rows", "5000")

    assert pipeline.wait_for(150_000) == 150_000
    pipeline.wait_committed(150_000)
    assert pipeline.stop(second) == 0
    assert pipeline.stop(first) == 0
    pipeline.assert_exact()


@contextlib.contextmanager
def deltas_received(group: str = contract.TRADES_GROUP):
    """The messages published to a Channels group while the block runs (a list, filled
    by a listener thread; complete once the block has ended)."""
    received: list[dict] = []
    ready = threading.Event()
    done = threading.Event()

    async def listen():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        ready.set()
        receiver = Receiver(layer, channel)
        while not done.is_set():
            message = await receiver.receive(timeout=0.5)
            if message is not None:
                received.append(message)
        receiver.close()
        await layer.group_discard(group, channel)

    listener = threading.Thread(target=lambda: asyncio.run(listen()), daemon=True)
    listener.start()
    assert ready.wait(10)
    try:
        yield received
    finally:
        done.set()
        listener.join(10)


def wait_until(condition, timeout: float = 30.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@contextlib.contextmanager
def rebalancing(group: str, topic: str):
    """Rebalance `group` again and again while the block runs: a plain consumer joins it
    (subscribed to a topic of its own, so it takes none of the workers' partitions) and,
    once the group has settled, leaves it. Each join and each leave revokes and reassigns
    every worker's partitions. Yields a list holding the number of rebalances so far."""
    rebalances = [0]
    done = threading.Event()

    def churn() -> None:
        while not done.is_set():
            _join_and_leave(group, topic, done)
            rebalances[0] += 2

    churner = threading.Thread(target=churn, daemon=True)
    churner.start()
    try:
        yield rebalances
    finally:
        done.set()
        churner.join(30)


def _join_and_leave(group: str, topic: str, done: threading.Event) -> None:
    settled = threading.Event()
    member = Consumer(client_config(**{"group.id": group, "session.timeout.ms": 6000}))
    member.subscribe([topic], on_assign=lambda *_: settled.set())
    while not settled.is_set() and not done.is_set():
        member.poll(0.1)
    member.close()


def test_exact_while_the_group_rebalances_again_and_again(pipeline):
    """Rebalances while a backlog is read: each revokes partitions from workers halfway
    through fetching, flushing and committing. A rebalance served between the poll for a
    batch's first message and the fetch of the rest once inserted that message twice; the
    window is microseconds wide, so tests/test_batching.py pins that case and this test
    guards everything else a rebalance interrupts.

    How many rebalances a fixed backlog lasts depends on how fast the machine ingests (8 for
    200,000 trades on a fresh one), so the backlog is topped up until there have been enough."""
    chunk, seed = 50_000, 12
    pipeline.produce(4 * chunk, SYMBOLS, seed=seed)
    produced = 4 * chunk
    ensure_topic(f"{pipeline.topic}.churn", 1)
    pool = pipeline.start_pool(2, "--max-batch-rows", "2000")
    with rebalancing(pipeline.group, f"{pipeline.topic}.churn") as rebalances:
        while rebalances[0] < 10:
            nearly_read = produced - chunk
            wait_until(lambda low=nearly_read: rebalances[0] >= 10 or pipeline.count() >= low or pool.poll() is not None,
                       timeout=300, what="ten rebalances or the backlog nearly read")
            assert pool.poll() is None, "the pool exited"
            if rebalances[0] < 10:
                assert produced < 1_000_000, f"only {rebalances[0]} rebalances while {produced:,} trades were read"
                seed += 1
                pipeline.produce(chunk, SYMBOLS, seed=seed)
                produced += chunk
        wait_until(lambda: pipeline.count() >= produced or pool.poll() is not None, timeout=300,
                   what="the backlog ingested")
    assert rebalances[0] >= 10

    assert pipeline.wait_for(produced) == produced
    pipeline.wait_committed(produced)
    assert pipeline.stop(pool) == 0
    pipeline.assert_exact()


def test_deltas_over_the_channel_layer_add_up_to_clickhouse(pipeline):
    def ours() -> list[dict]:
        return [m for m in list(received) if m["type"] == contract.TRADES_DELTA
                and all(int(p) in (0, 1, 2) for p in m["offsets"]) and _covers(m, pipeline)]

    with deltas_received() as received:
        pipeline.produce(30_000, SYMBOLS, seed=6)
        pool = pipeline.start_pool(2)
        assert pipeline.wait_for(30_000) == 30_000
        wait_until(lambda: sum(n for m in ours() for n, *_ in m["symbols"].values()) >= 30_000,
                   what="deltas counting every trade")
    assert pipeline.stop(pool) == 0

    totals: dict[str, list[int]] = {}
    for message in ours():
        for symbol, (trades, shares, volume, _last) in message["symbols"].items():
            entry = totals.setdefault(symbol, [0, 0, 0])
            entry[0] += trades
            entry[1] += shares
            entry[2] += volume
    assert totals == {s: [n, pipeline.tally.shares[s], pipeline.tally.volume_cents[s]]
                      for s, n in pipeline.tally.trades.items()}


def test_a_delta_lost_between_insert_and_publish_shows_as_a_gap_at_once(pipeline):
    # A worker inserted the last trades of partition 0 and was killed before publishing
    # their delta or committing. No more trades come to that partition, so only the
    # successor's announcement of where it resumes can tell a dashboard it missed them.
    pipeline.produce(3_000, SYMBOLS, seed=8)
    last_inserted = _insert_without_publishing(pipeline, partition=0)
    def of_partition_0() -> list[dict]:
        return [m for m in list(received) if m["type"] == contract.TRADES_DELTA and _covers(m, pipeline)
                and "0" in m["consumed"]]

    with deltas_received() as received:
        pool = pipeline.start_pool(1)
        assert pipeline.wait_for(3_000) == 3_000
        wait_until(of_partition_0, what="a delta of partition 0")
    assert pipeline.stop(pool) == 0
    pipeline.assert_exact()

    first = of_partition_0()[0]
    assert first["consumed"]["0"] == [last_inserted + 1, last_inserted]  # resumes, covers nothing
    dashboard = Continuity()  # one that had seen partition 0 from its start, up to the lost delta
    dashboard.next[(contract.TRADES_DELTA, "0")] = 0
    assert dashboard.check(first) == GAP


def _insert_without_publishing(pipeline: Pipeline, partition: int) -> int:
    """Insert every trade of `partition` as one worker flush would, then stop short of its
    publish and commit; returns the last offset inserted."""
    consumer = Consumer(client_config(**{"group.id": f"{pipeline.group}-by-hand", "enable.auto.commit": False}))
    _low, high = consumer.get_watermark_offsets(TopicPartition(pipeline.topic, partition), timeout=10)
    consumer.assign([TopicPartition(pipeline.topic, partition, 0)])
    job = IngestJob(pipeline.topic, rules=TradeRules(symbols=frozenset(SYMBOLS)))
    batch = Batch()
    while batch.consumed < high:
        for message in consumer.consume(num_messages=1000, timeout=1):
            if message.error() is None:
                now_ms = time.time_ns() // 1_000_000
                batch.add(message, job.parse(message, now_ms), now_ms)
    consumer.close()
    [span] = batch.spans.values()
    entry = ledger.Entry(partition, span.first, span.last, ledger.State.PENDING)
    ledger.record(pipeline.clickhouse(), job.name, pipeline.topic, [entry])
    job.write(pipeline.clickhouse(), span)
    ledger.record(pipeline.clickhouse(), job.name, pipeline.topic, [replace(entry, state=ledger.State.DONE)])
    return high - 1


def _covers(message: dict, pipeline: Pipeline) -> bool:
    # Other tests' pools publish to the same group; ours only trade the test's own topic.
    return message.get("topic", pipeline.topic) == pipeline.topic


def test_clickhouse_outage_is_waited_out_without_committing_ahead(services, symbol_db, endpoint):
    import datetime as dt

    pipeline = Pipeline(symbol_db, endpoint.url, f"http://reader:secret@127.0.0.1:{endpoint.port}/default")
    try:
        pipeline.produce(200_000, SYMBOLS, seed=8)
        pool = pipeline.start_pool(2, "--max-batch-rows", "5000")
        while pipeline.count() < 30_000:
            time.sleep(0.1)

        endpoint.stop()
        stopped_at = dt.datetime.now(dt.UTC)
        committed_during_outage = []
        outage_end = time.monotonic() + 10
        while time.monotonic() < outage_end:
            committed_during_outage.append(pipeline.committed())
            time.sleep(1)
        endpoint.start()

        assert pipeline.wait_for(200_000) == 200_000
        inserted_before = dict(pipeline.clickhouse().query(
            "SELECT kafka_partition, max(kafka_offset) FROM trades WHERE ingested_at < {t:DateTime64(3, 'UTC')} "
            "GROUP BY kafka_partition", parameters={"t": stopped_at}).result_rows)
        for committed in committed_during_outage:
            for partition, offset in committed.items():
                assert offset <= inserted_before.get(partition, -1) + 1
        assert pipeline.stop(pool) == 0
        pipeline.assert_exact()
    finally:
        pipeline.close()


def test_a_hung_worker_is_replaced_and_nothing_is_lost(pipeline):
    pipeline.produce(100_000, SYMBOLS, seed=13)
    pool = pipeline.start_pool(2, "--max-batch-rows", "5000", "--heartbeat-timeout", "5")
    while pipeline.count() < 10_000:
        time.sleep(0.1)
    hung = pipeline.worker_pids(pool)[0]
    os.kill(hung, signal.SIGSTOP)  # alive, but no heartbeat: what a deadlock looks like

    deadline = time.monotonic() + 30
    while hung in pipeline.worker_pids(pool) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert hung not in pipeline.worker_pids(pool)
    assert pipeline.wait_for(100_000) == 100_000
    pipeline.wait_committed(100_000)
    assert pipeline.stop(pool) == 0
    pipeline.assert_exact()


def test_a_worker_clickhouse_refuses_stops_the_pool_at_once(pipeline):
    from harness.pool import database_url

    # Every worker's first ClickHouse request is refused: an error that restarting cannot fix.
    pipeline.extra_environment = {"CLICKHOUSE_URL": database_url(pipeline.base_url, "no_such_database")}
    pipeline.produce(100, SYMBOLS, seed=14)
    pool = pipeline.start_pool(1)
    assert pool.wait(120) == 2  # the supervisor's code for an error a restart cannot fix


def test_workers_that_keep_crashing_stop_the_pool_with_an_error(pipeline):
    # A worker that dies at start, every time: restarted with backoff until the crash limit.
    pool = pipeline.start_pool(1, "--job", "tests.test_jobs.CrashingJob", "--max-crashes", "2")
    assert pool.wait(120) == 1  # the supervisor's code for a crash loop


def test_ingestion_goes_on_while_redis_is_down(pipeline, tmp_path):
    from tests.conftest import free_port

    port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--dir", str(tmp_path)],
                             stdout=subprocess.DEVNULL)
    try:
        import redis as redis_client

        answering = redis_client.Redis(port=port, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:  # up means it answers PING
            try:
                assert answering.ping()
                break
            except redis_client.ConnectionError:
                assert time.monotonic() < deadline, "the test's Redis did not start"
                time.sleep(0.05)
        pipeline.extra_environment = {"REDIS_URL": f"redis://127.0.0.1:{port}/0"}
        pipeline.produce(60_000, SYMBOLS, seed=15)
        pool = pipeline.start_pool(2, "--max-batch-rows", "2000")
        while pipeline.count() < 5_000:
            time.sleep(0.1)
        redis.terminate()
        redis.wait(10)

        assert pipeline.wait_for(60_000) == 60_000
        assert pipeline.stop(pool) == 0
        pipeline.assert_exact()
    finally:
        if redis.poll() is None:
            redis.kill()


def test_a_worker_killed_between_pending_and_done_has_its_range_replayed_exactly_once(services, symbol_db, tmp_path):
    """ClickHouse applies an insert whose answer the worker never hears (a proxy withholds
    it), and the pool is killed there: the ledger says pending. The next pool replays that
    range exactly, and ClickHouse drops what it already has."""
    upstream = next(s for s in configured_services() if s.name == "clickhouse")
    proxy = LosingProxy(upstream.address[1])
    pipeline = Pipeline(symbol_db, clickhouse_url=settings.CLICKHOUSE_URL.replace(
        f":{upstream.address[1]}/", f":{proxy.port}/"))
    try:
        pipeline.produce(5_000, SYMBOLS, seed=31)
        pool = pipeline.start_pool(1)
        pipeline.wait_committed(5_000)
        assert pipeline.stop(pool) == 0
        proxy.hold("trades")
        pipeline.produce(2_000, SYMBOLS, seed=32)
        pool = pipeline.start_pool(1)
        assert proxy.held.wait(60), "no insert into trades was held"
        os.killpg(pool.pid, signal.SIGKILL)
        pool.wait(10)

        client = pipeline.clickhouse()
        # The held flush's partitions (the first poll may not have fetched all three).
        pending = {partition: entry for partition, entry in ledger.read(client, "ingest", pipeline.topic).items()
                   if entry.state is ledger.State.PENDING}
        assert pending
        stored = {partition: client.command(
            "SELECT count() FROM trades WHERE kafka_partition = {p:UInt16} AND kafka_offset >= {first:UInt64}",
            parameters={"p": partition, "first": entry.first}) for partition, entry in pending.items()}
        assert sorted(stored.values())[-1] > 0  # the held insert was applied: resuming inside it would repeat it
        assert sum(pipeline.committed().values()) < 7_000

        log = tmp_path / "again.log"
        pool = pipeline.start_pool(1, log=log)
        pipeline.wait_committed(7_000)
        assert pipeline.stop(pool) == 0
        for partition, entry in pending.items():
            assert f"partition {pipeline.topic}/{partition} replays its pending range {entry.first}-{entry.last}" \
                in log.read_text()
        pipeline.assert_exact()
        assert pipeline.tally.view_differences(client, sentiment=False) == []
        assert {e.state for e in ledger.read(client, "ingest", pipeline.topic).values()} == {ledger.State.DONE}
    finally:
        proxy.close()
        pipeline.close()


def test_a_pool_starts_its_metrics_from_zero_and_keeps_the_directory_s_other_files(tmp_path, monkeypatch):
    """prometheus_client sums every sample file in the directory: an earlier pool's would
    count again. PROMETHEUS_MULTIPROC_DIR pointed at a directory with other files in it
    must lose only the sample files."""
    from workers import supervisor

    (tmp_path / "counter_4242.db").write_bytes(b"an earlier pool's samples")
    (tmp_path / "notes.txt").write_text("not the pool's")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    supervisor._prepare_metrics_dir()

    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path)
