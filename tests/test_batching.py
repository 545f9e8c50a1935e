"""When a worker flushes its batch (workers.consumer.flush_due): pure logic, no services."""

from __future__ import annotations

import time

from workers.batch import Batch
from workers.consumer import WorkerOptions, flush_due
from workers.validation import Rejection

OPTIONS = WorkerOptions(slot=0, group="g", max_batch_rows=3, max_batch_ms=200)


def batch_of(rows: int, age_ms: float = 0.0, dead_letters: int = 0) -> Batch:
    batch = Batch(started=time.monotonic() - age_ms / 1000)
    batch.rows.extend((f"trade-{i}",) for i in range(rows))
    batch.dead_letters.extend([Rejection("invalid_json", "")] * dead_letters)
    return batch


def test_a_full_batch_is_flushed_at_once_caught_up_or_not():
    assert flush_due(batch_of(3), OPTIONS, caught_up=False)
    assert flush_due(batch_of(2, dead_letters=1), OPTIONS, caught_up=True)


def test_a_caught_up_worker_flushes_once_the_batch_is_max_batch_ms_old():
    assert not flush_due(batch_of(1, age_ms=150), OPTIONS, caught_up=True)
    assert flush_due(batch_of(1, age_ms=250), OPTIONS, caught_up=True)


def test_while_reading_a_backlog_the_clock_does_not_close_a_batch():
    assert not flush_due(batch_of(2, age_ms=5_000), OPTIONS, caught_up=False)


def test_an_empty_batch_is_never_flushed():
    assert not flush_due(batch_of(0, age_ms=5_000), OPTIONS, caught_up=True)
