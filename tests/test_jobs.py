"""Jobs as plug-ins of the pool: a job defined only in this module runs through
`runworkers --job <import path>` beside ingest, with no change to workers/."""

from __future__ import annotations

import random
import subprocess
import sys
import time

import pytest

from producer import malformed
from producer.trades import now_ms
from tests.conftest import BUNDLED_SYMBOLS, PROJECT_DIR
from tests.pipeline import Pipeline
from workers.jobs import ConsumerJob

pytestmark = [pytest.mark.services, pytest.mark.slow]


class ToyJob(ConsumerJob):
    """Remembers the key of every message it consumes, exactly once."""

    name = "toy"
    delta_group = "toy.deltas"

    def parse(self, message, now_ms: int) -> tuple:
        return (message.key() or b"").decode("utf-8", "replace"), message.partition(), message.offset()

    def write(self, client, span) -> None:
        client.insert("toy_seen", [list(row) for row in span.rows],
                      column_names=["key", "kafka_partition", "kafka_offset"],
                      settings={"insert_deduplication_token": span.deduplication_token, "async_insert": 0})

    def delta(self, batch):
        return None


class CrashingJob(ToyJob):
    """Dies in every worker that builds it: a crash loop for the supervisor to end."""

    name = "crashing"

    def __init__(self, topic: str):
        raise RuntimeError("this job always crashes")


@pytest.fixture
def pipeline(services, symbol_db):
    pipeline = Pipeline(symbol_db)
    pipeline.clickhouse().command(
        "CREATE TABLE toy_seen (key String, kafka_partition UInt16, kafka_offset UInt64) "
        "ENGINE = MergeTree ORDER BY (kafka_partition, kafka_offset) SETTINGS non_replicated_deduplication_window = 1000")
    yield pipeline
    pipeline.close()


def test_a_job_from_an_import_path_runs_beside_ingest_with_its_own_group(pipeline):
    pipeline.produce(20_000, BUNDLED_SYMBOLS[:100], seed=21)
    pool = pipeline.start_pool(1, "--job", "ingest", "--job", "tests.test_jobs.ToyJob")

    assert pipeline.wait_for(20_000) == 20_000
    client = pipeline.clickhouse()
    deadline = time.monotonic() + 60
    while client.command("SELECT count() FROM toy_seen") < 20_000 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert pipeline.stop(pool) == 0

    assert client.query("SELECT count(), uniqExact(key) FROM toy_seen").result_rows == [(20_000, 20_000)]
    pipeline.assert_exact()
    toy_group = pipeline.committed_by(f"{pipeline.group}.toy")
    assert sum(toy_group.values()) == 20_000 == sum(pipeline.committed().values())


def test_a_malformed_message_is_dead_lettered_once_whatever_jobs_read_it(pipeline):
    """Ingest and sentiment both read the topic and both reject its bad messages; only
    ingest dead-letters them, so the dead-letter topic holds each exactly once."""
    rng = random.Random(31)
    trade = ("5a3e4f0e-1111-4222-8333-0000000000aa", now_ms(), BUNDLED_SYMBOLS[0], 2501, 99)
    bad = [malformed.make(kind, trade, rng) for kind in sorted(malformed.KINDS)]
    pipeline.produce(2_000, BUNDLED_SYMBOLS[:100], seed=23, extra=[(b.key, b.value) for b in bad])
    total = 2_000 + len(bad)

    pool = pipeline.start_pool(1, "--job", "ingest", "--job", "sentiment")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (
        sum(pipeline.committed().values()) == total
        and sum(pipeline.committed_by(f"{pipeline.group}.sentiment").values()) == total
    ):
        time.sleep(0.5)
    assert pipeline.stop(pool) == 0

    # Both groups committed every message, so every dead letter was acknowledged before that.
    letters = pipeline.all_dead_letters()
    sources = [(int(dict(m.headers())["source_partition"]), int(dict(m.headers())["source_offset"])) for m in letters]
    assert len(letters) == len(set(sources)) == len(bad) == len(malformed.KINDS)
    assert {dict(m.headers())["job"].decode() for m in letters} == {"ingest"}


def test_jobs_list_shows_the_registered_jobs(services):
    result = subprocess.run([sys.executable, "manage.py", "jobs", "list"], cwd=PROJECT_DIR, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "ingest" in result.stdout and "workers.ingest.IngestJob" in result.stdout


def test_an_unknown_job_is_refused(services):
    result = subprocess.run([sys.executable, "manage.py", "runworkers", "--job", "nope"], cwd=PROJECT_DIR,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "unknown job 'nope'" in result.stderr


def test_ingest_and_sentiment_together_stay_exact_with_a_worker_killed(pipeline):
    import os
    import random
    import signal

    pipeline.produce(100_000, BUNDLED_SYMBOLS[:300], seed=22)
    pool = pipeline.start_pool(2, "--job", "ingest", "--job", "sentiment", "--max-batch-rows", "5000")
    client = pipeline.clickhouse()
    while client.command("SELECT count() FROM trade_sentiment") < 20_000:
        time.sleep(0.2)
    os.kill(random.Random(3).choice(pipeline.worker_pids(pool)), signal.SIGKILL)

    assert pipeline.wait_for(100_000) == 100_000
    deadline = time.monotonic() + 90
    while client.command("SELECT count() FROM trade_sentiment") < 100_000 and time.monotonic() < deadline:
        time.sleep(0.5)
    pipeline.wait_committed(100_000)
    pipeline.wait_committed(100_000, group=f"{pipeline.group}.sentiment")
    assert pipeline.stop(pool) == 0
    pipeline.assert_exact()

    assert client.query("SELECT count(), uniqExact(id) FROM trade_sentiment").result_rows == [(100_000, 100_000)]
    misclassified = client.command(
        "SELECT count() FROM trades AS t INNER JOIN trade_sentiment AS s USING (id) "
        "WHERE (t.quantity > 5000) != (s.sentiment = 'WHALE')")
    whales = client.command("SELECT countIf(quantity > 5000) FROM trades")
    per_symbol = client.query(
        "SELECT sum(whales), sum(minnows) FROM symbol_sentiment").result_rows[0]
    assert misclassified == 0 and whales > 0
    assert per_symbol == (whales, 100_000 - whales)
