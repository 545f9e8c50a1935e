"""When a worker flushes its batch (workers.consumer.flush_due), how a batch splits into
per-partition spans, what a fetch keeps when a rebalance comes in the middle of it, and
which failures a worker waits out: pure logic, no services."""

from __future__ import annotations

import multiprocessing
import time

from django.db import OperationalError

from workers import jobs
from workers.alerts import AlertsJob
from workers.batch import Batch
from workers.consumer import Worker, WorkerOptions, flush_due, poll_timeout
from workers.ingest import IngestJob
from workers.sentiment import SentimentJob
from workers.validation import Rejection

OPTIONS = WorkerOptions(slot=0, group="g", max_batch_rows=3, max_batch_ms=20, min_flush_interval_ms=100)
LONG_AGO = 10_000.0  # ms since the worker's last flush


def batch_of(rows: int, age_ms: float = 0.0, dead_letters: int = 0) -> Batch:
    """A batch whose first message was added `age_ms` ago."""
    batch = Batch()
    for offset in range(rows + dead_letters):
        batch.add(FakeMessage(offset), Rejection("invalid_json", "") if offset >= rows else (f"trade-{offset}",), 1)
    batch.started = time.monotonic() - age_ms / 1000
    return batch


class FakeMessage:
    """What Batch.add reads of a consumed message."""

    def __init__(self, offset: int, partition: int = 0):
        self._offset, self._partition = offset, partition

    def topic(self) -> str:
        return "trades"

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b""

    def value(self) -> bytes:
        return b""

    def headers(self) -> None:
        return None


def test_a_full_batch_is_flushed_at_once_caught_up_or_not():
    assert flush_due(batch_of(3), OPTIONS, caught_up=False, since_flush_ms=0)
    assert flush_due(batch_of(2, dead_letters=1), OPTIONS, caught_up=True, since_flush_ms=0)


def test_a_caught_up_worker_flushes_once_the_batch_is_max_batch_ms_old():
    assert not flush_due(batch_of(1, age_ms=10), OPTIONS, caught_up=True, since_flush_ms=LONG_AGO)
    assert flush_due(batch_of(1, age_ms=30), OPTIONS, caught_up=True, since_flush_ms=LONG_AGO)


def test_the_linger_runs_from_the_batch_s_first_message_not_from_the_last_flush():
    # A worker opens its next batch as it flushes; after a quiet spell that batch is
    # seconds old when its first message comes, which must still linger.
    batch = Batch(started=time.monotonic() - 5)
    batch.add(FakeMessage(0), ("trade-0",), 1)
    assert batch.age_ms() < OPTIONS.max_batch_ms
    assert not flush_due(batch, OPTIONS, caught_up=True, since_flush_ms=LONG_AGO)


def test_a_caught_up_worker_flushes_at_most_once_per_interval():
    assert not flush_due(batch_of(1, age_ms=30), OPTIONS, caught_up=True, since_flush_ms=60)
    assert flush_due(batch_of(1, age_ms=30), OPTIONS, caught_up=True, since_flush_ms=110)


def test_while_reading_a_backlog_the_clock_does_not_close_a_batch():
    assert not flush_due(batch_of(2, age_ms=5_000), OPTIONS, caught_up=False, since_flush_ms=LONG_AGO)


def test_an_empty_batch_is_never_flushed():
    assert not flush_due(batch_of(0, age_ms=5_000), OPTIONS, caught_up=True, since_flush_ms=LONG_AGO)


def test_a_job_flushes_no_more_often_than_its_own_interval_or_the_pools():
    assert jobs.min_flush_interval_ms(IngestJob, 100) == 100
    assert jobs.min_flush_interval_ms(SentimentJob, 100) == SentimentJob.min_flush_interval_ms > 100
    assert jobs.min_flush_interval_ms(SentimentJob, 5000) == 5000
    assert jobs.min_flush_interval_ms(AlertsJob, 100) == 100  # an elected job never flushes


def test_the_poll_waits_no_longer_than_until_the_batch_is_due():
    assert poll_timeout(batch_of(0), OPTIONS, last_flush=0.0) == 0.05  # nothing open: the usual poll
    now = time.monotonic()
    assert 0.001 <= poll_timeout(batch_of(1, age_ms=5), OPTIONS, last_flush=now - 10) <= 0.016
    assert 0.04 <= poll_timeout(batch_of(1, age_ms=5), OPTIONS, last_flush=now - 0.05) <= 0.05  # the interval


def test_each_partition_is_one_span_whose_token_is_its_range():
    batch = Batch()
    for partition, offset, polled_ms in [(0, 5, 100), (1, 40, 100), (0, 6, 100), (0, 7, 130), (1, 41, 130)]:
        batch.add(FakeMessage(offset, partition), (f"row-{partition}-{offset}",), polled_ms)
    batch.add(FakeMessage(8, 0), Rejection("invalid_json", ""), 160)
    spans = {partition: span for (_topic, partition), span in batch.spans.items()}
    assert [(s.first, s.last, len(s.rows)) for s in spans.values()] == [(5, 8, 3), (40, 41, 2)]
    # Each poll that fetched some of a span: its first offset there and when (contract.Stamps).
    assert spans[0].polls == [[5, 100], [7, 130], [8, 160]]
    assert spans[1].polls == [[40, 100], [41, 130]]
    assert spans[0].deduplication_token == "trades-0-5-8"
    assert spans[1].deduplication_token == "trades-1-40-41"
    assert [(tp.partition, tp.offset) for tp in batch.offsets_to_commit()] == [(0, 9), (1, 42)]
    assert (batch.consumed, batch.inserted) == (6, 5)


class RebalancedConsumer:
    """A consumer in librdkafka's order of events: poll() returns a message, and the
    consume() after it serves a rebalance (running the worker's revoke callback inside
    the call) and returns what the new assignment fetched, if `rebalance` is set."""

    def __init__(self, worker: Worker, first: FakeMessage, rest: list[FakeMessage], rebalance: bool):
        self.worker, self.first, self.rest, self.rebalance = worker, first, rest, rebalance

    def poll(self, timeout: float) -> FakeMessage:
        return self.first

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        if self.rebalance:
            self.worker._on_revoke(self, [])
        return self.rest


def idle_worker() -> Worker:
    """A worker between batches, without its clients: only the fetch runs."""
    worker = Worker.__new__(Worker)
    worker.job, worker.options, worker.batch, worker.replaying = None, OPTIONS, Batch(), {}
    worker._last_flush, worker._revocations, worker._unsettled = 0.0, 0, []
    return worker


def test_the_first_message_is_dropped_when_a_rebalance_comes_before_the_rest():
    worker = idle_worker()
    first, refetched = FakeMessage(7), [FakeMessage(7), FakeMessage(8)]
    worker.consumer = RebalancedConsumer(worker, first, refetched, rebalance=True)
    assert worker._fetch(100) == refetched  # offset 7 once, as the new assignment fetched it


def test_without_a_rebalance_the_first_message_leads_the_rest():
    worker = idle_worker()
    first, rest = FakeMessage(7), [FakeMessage(8), FakeMessage(9)]
    worker.consumer = RebalancedConsumer(worker, first, rest, rebalance=False)
    assert worker._fetch(100) == [first, *rest]


def test_django_database_errors_are_waited_out_like_clickhouse_ones(django_db_blocker):
    """The alerts job's tick writes admin's copy of each alert to Django's database; a
    database that is locked or away is retried, where it had killed the worker. (The
    retry closes Django's broken connections, which a test may only touch unblocked.)"""
    worker = idle_worker()
    worker.stop, worker.heartbeat = multiprocessing.Event(), multiprocessing.Value("d", 0.0)
    worker._last_status = time.monotonic()  # no status report in the 0.1 s it waits
    outcomes: list[Exception | str] = [OperationalError("database is locked"), "published"]

    def tick() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    with django_db_blocker.unblock():
        assert worker._retrying(tick, "alerts tick") == "published"
    assert outcomes == []
