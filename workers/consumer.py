"""One worker process: consume, batch, flush, commit (see workers/ingest.py for why
this order makes the effect exactly-once).

The loop is written here rather than on sentry-arroyo: resuming each assigned
partition from the insert-intent ledger, replaying a pending range exactly, and
flushing synchronously inside the revocation callback are the core of the
exactly-once design, and all sit below the strategy API arroyo exposes.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType
from typing import Any, TypeVar

from clickhouse_connect.driver.exceptions import DatabaseError
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from django.db import InterfaceError as DjangoInterfaceError
from django.db import OperationalError as DjangoOperationalError
from django.db import close_old_connections

import contract
from clickhouse import ledger
from clickhouse.errors import is_transient
from clickhouse.ledger import State
from infra.kafka import Config, worker_consumer_config
from workers.batch import Batch, Span
from workers.deadletters import DeadLetterError, DeadLetterSink
from workers.jobs import ConsumerJob, ElectedJob, Job, JobSpec

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Exit codes the supervisor understands.
EXIT_OK = 0
EXIT_RESTART = 1  # restart me: my Kafka client hit a fatal error (say, fenced after a broker restart)
EXIT_FATAL = 3  # do not restart: the input or the configuration is wrong

MAX_RETRY_SECONDS = 30.0
STATUS_EVERY_SECONDS = 1.0
TICK_EVERY_SECONDS = 1.0
COLLECT_EVERY_SECONDS = 1.0
SETTLE_AFTER_SECONDS = 1.0  # a quiet worker records its last ranges done
INVALID_WINDOW = 10_000  # the bad-input limit looks at this many recent messages
# Failures worth waiting out: a service that is down or slow. A ClickHouse error
# about the data or the schema is not retried (clickhouse/errors.py tells them apart).
# Django's database (the alerts job writes admin's copy of each alert) away or locked
# is waited out too: the alerts worker had died of SQLite's "database is locked".
DJANGO_UNAVAILABLE = (DjangoOperationalError, DjangoInterfaceError)
RETRYABLE = (DatabaseError, ConnectionError, TimeoutError, KafkaException, DeadLetterError, *DJANGO_UNAVAILABLE)


@dataclass(frozen=True)
class WorkerOptions:
    slot: int
    group: str
    # Set by the supervisor (host and pid): slots of two pools in one group never clash.
    instance_prefix: str = ""
    max_batch_rows: int = 50_000
    max_batch_ms: int = 20  # a caught-up worker's linger
    min_flush_interval_ms: int = 100
    drain_seconds: float = 20.0


def flush_due(batch: Batch[Any], options: WorkerOptions, caught_up: bool, since_flush_ms: float) -> bool:
    """A batch is flushed when full, or, once the worker has caught up, when its first
    message is max_batch_ms old and the worker's last flush is min_flush_interval_ms ago.

    A light stream is flushed soon after its poll came back short: a linger of tens of
    milliseconds, so that a burst goes in one flush rather than its first trade alone
    and the rest an interval later. The interval bounds how often a worker inserts: at
    most 1000 / min_flush_interval_ms flushes a second, each one insert per partition it
    holds into `trades` and each view's table, which keeps ClickHouse's part count
    and merges in check. While a backlog is read (the last poll came back full) the
    clock does not close a batch: an insert costs ClickHouse about the same CPU whatever
    its size (BENCHMARKS.md, "Measurements behind design choices"), so small batches
    during a replay would make ClickHouse the bottleneck.
    """
    if batch.consumed >= options.max_batch_rows:
        return True
    return (caught_up and batch.consumed > 0 and batch.age_ms() >= options.max_batch_ms
            and since_flush_ms >= options.min_flush_interval_ms)


def poll_timeout(batch: Batch[Any], options: WorkerOptions, last_flush: float) -> float:
    """How long the next poll may wait for messages: until the open batch is due, at most
    50 ms. librdkafka returns a short poll only at its timeout, so a fixed 50 ms would add
    up to 50 ms to every lingering batch."""
    if not batch.consumed:
        return 0.05
    due = max(batch.started + options.max_batch_ms / 1000, last_flush + options.min_flush_interval_ms / 1000)
    return min(0.05, max(0.001, due - time.monotonic()))


class TooManyInvalid(Exception):
    """Most recent messages were invalid: the topic carries another format."""


class Refused(Exception):
    """ClickHouse refused a request for a reason no retry changes (the data or the schema)."""


class Worker:
    def __init__(self, job: Job, options: WorkerOptions, heartbeat: Synchronized[float], stop: EventType,
                 status_queue: Queue[dict[str, Any]] | None = None):
        from clickhouse.connection import shard_writers, writer

        # Imported here, in the worker process: metrics need the multiprocess
        # directory the supervisor set up, deltas the Django settings.
        from workers import metrics
        from workers.deltas import DeltaPublisher

        self.job = job
        self.options = options
        self.heartbeat = heartbeat
        self.stop = stop
        self.status_queue = status_queue
        self.metrics = metrics
        self.clickhouse = writer(send_receive_timeout=30)  # the ledger, elected jobs' reads
        self.shards = shard_writers(self.clickhouse, send_receive_timeout=30)
        self.dead_letters = (DeadLetterSink(job.dead_letter_suffix, job=job.name)
                             if isinstance(job, ConsumerJob) and job.dead_letters else None)
        self.deltas = DeltaPublisher(job.delta_group, on_drop=metrics.DELTAS_DROPPED.labels(job=job.name).inc)
        self.batch: Batch[Any] = Batch()
        # Pending ranges being replayed: (topic, partition) -> the range's last offset.
        self.replaying: dict[tuple[str, int], int] = {}
        self._paused: list[TopicPartition] = []  # everything else, until the replay is flushed
        self._held: list[Message] = []  # what they had fetched before the pause, for the batch after
        self.counts = {"consumed": 0, "inserted": 0, "dead_lettered": 0, "rejected": 0}
        self._recent = [0, 0]  # [messages, invalid] in the current window
        self._last_status = 0.0
        self._last_tick = 0.0
        self._last_flush = 0.0
        self._unsettled: list[Span[Any]] = []  # the last flush's ranges: inserted and committed, not yet recorded done
        self._last_collection = 0.0
        self._revocations = 0  # partitions revoked or lost so far (see _fetch)
        self._drain_deadline = float("inf")  # set when the worker is told to stop (_drain)
        self.consumer = Consumer(self._consumer_config())

    def _consumer_config(self) -> Config:
        instance = f"{self.options.group}-{self.job.name}-{self.options.instance_prefix}-{self.options.slot}"
        return worker_consumer_config(self.options.group, instance)

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> int:
        self.consumer.subscribe(self.job.topics, on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_lost)
        try:
            while not self.stop.is_set():
                self._beat()
                # A replay ends at its range's last offset, whatever the batch limit says.
                wanted = 10_000 if self.replaying else min(self.options.max_batch_rows - self.batch.consumed, 10_000)
                messages = self._fetch(wanted)
                caught_up = len(messages) < wanted  # a short poll: nothing more is waiting
                self._take(messages)
                since_flush_ms = (time.monotonic() - self._last_flush) * 1000
                if not self.replaying and flush_due(self.batch, self.options, caught_up, since_flush_ms):
                    self.flush()
                self._tick()
                if not self.batch.consumed and time.monotonic() - self._last_flush >= SETTLE_AFTER_SECONDS:
                    self._settle()
                self._collect_garbage()
            self._drain()
            return EXIT_OK
        except (TooManyInvalid, Refused) as exc:
            logger.error("%s; stopping without committing the batch", exc)
            self.batch = Batch()  # else closing the consumer flushes it (_on_revoke)
            return EXIT_FATAL
        except KafkaException as exc:
            # librdkafka cannot go on with this client. The ledger says where the next worker
            # resumes (a pending range is replayed), so a restart is safe.
            logger.error("Kafka client failed for good (%s); exiting to be restarted", exc)
            return EXIT_RESTART
        finally:
            self.deltas.close()
            self.consumer.close()

    def _fetch(self, wanted: int) -> list[Message]:
        """Up to `wanted` messages. With no batch open the first message ends the wait, and
        whatever else has arrived is taken with it: consume() waits out its whole timeout
        unless `wanted` messages come, which held the first trade after a quiet spell up
        to 50 ms.

        The second call can serve a rebalance. librdkafka then drops what the old assignment
        fetched from that call's result, but not the first message, returned by the call
        before: it is dropped here. Kept, it would be inserted twice, by this worker after
        its partition was revoked and by the partition's next owner, which resumes at the
        last commit (or by this worker again, if it is that owner)."""
        timeout = poll_timeout(self.batch, self.options, self._last_flush)
        if self.batch.consumed or self.replaying or wanted == 1:
            messages: list[Message] = self.consumer.consume(num_messages=wanted, timeout=timeout)
            return messages
        first = self.consumer.poll(timeout)
        if first is None:
            return []
        revocations = self._revocations
        rest = self.consumer.consume(num_messages=wanted - 1, timeout=0)
        return rest if self._revocations != revocations else [first, *rest]

    def _take(self, messages: list[Message]) -> None:
        if self.replaying:
            messages = self._take_replay(messages)
        self._parse(messages)

    def _parse(self, messages: list[Message]) -> None:
        """Parse messages into the batch: one loop, as it runs for every message."""
        if not messages:
            return
        assert isinstance(self.job, ConsumerJob)  # an elected job's worker fetches nothing
        now_ms = time.time_ns() // 1_000_000  # once a poll, not once a message
        parse, add = self.job.parse, self.batch.add
        rejected, errors = len(self.batch.dead_letters), 0
        for message in messages:
            error = message.error()
            if error is None:
                add(message, parse(message, now_ms), now_ms)
            else:
                _consumer_error(error)
                errors += 1
        self._count_validity(len(messages) - errors, len(self.batch.dead_letters) - rejected)

    def _take_replay(self, messages: list[Message]) -> list[Message]:
        """Take messages while pending ranges are replayed; returns those left once the
        last range is complete and flushed. Every other partition is paused meanwhile, and
        so is a partition whose range is complete; what they had already fetched is held
        back, so the flush carries the replayed ranges exactly, no more."""
        replayed: list[Message] = []
        for index, message in enumerate(messages):
            key = (message.topic() or "", message.partition() or 0)
            end = self.replaying.get(key)
            if message.error() is not None or end is None:
                self._held.append(message)
                continue
            offset = message.offset() or 0
            if offset <= end:
                replayed.append(message)
            else:  # the range's end is gone from the topic (retention): replay what is left
                logger.warning("partition %s/%d: offset %d of a pending range is gone", *key, end)
                self._held.append(message)
            if offset >= end:
                del self.replaying[key]
                self._pause([key])
                if not self.replaying:
                    self._parse(replayed)
                    self.flush()
                    logger.info("replayed the pending ranges; resuming %d partitions", len(self._paused))
                    self._resume_paused()
                    held, self._held = self._held, []
                    return held + messages[index + 1:]
        self._parse(replayed)
        return []

    def _pause(self, keys: list[tuple[str, int]]) -> None:
        partitions = [TopicPartition(topic, partition) for topic, partition in keys]
        self.consumer.pause(partitions)
        self._paused += partitions

    def _resume_paused(self) -> None:
        if self._paused:
            self.consumer.resume(self._paused)
        self._paused = []

    def _count_validity(self, messages: int, invalid: int) -> None:
        self._recent[0] += messages
        self._recent[1] += invalid
        if self._recent[0] >= INVALID_WINDOW:
            if self._recent[1] * 2 > self._recent[0]:
                raise TooManyInvalid(
                    f"{self._recent[1]} of the last {self._recent[0]} messages on {self.job.topics} were invalid")
            self._recent = [0, 0]

    def _tick(self) -> None:
        """An elected job's step, about once a second, retried like a flush; what it
        returns is published like a delta."""
        job = self.job
        if not isinstance(job, ElectedJob) or time.monotonic() - self._last_tick < TICK_EVERY_SECONDS:
            return
        self._last_tick = time.monotonic()
        assigned = frozenset((tp.topic, tp.partition) for tp in self.consumer.assignment())
        message = self._retrying(lambda: job.tick(self.clickhouse, assigned), f"{job.name} tick")
        if message is not None:
            self.deltas.publish(message)

    def _collect_garbage(self) -> None:
        """A garbage collection between batches (see _take_over_garbage_collection), at
        most once a second: when the batch is empty there is little to walk."""
        if self.batch.consumed or time.monotonic() - self._last_collection < COLLECT_EVERY_SECONDS:
            return
        gc.collect()
        self._last_collection = time.monotonic()

    def _beat(self) -> None:
        self.heartbeat.value = time.time()
        if time.monotonic() - self._last_status >= STATUS_EVERY_SECONDS:
            self._last_status = time.monotonic()
            self._report_status()

    # -- the flush ---------------------------------------------------------------------
    def flush(self) -> None:
        """Dead-letter, record the intent, insert, publish, commit: the order exactly-once
        rests on (workers/ingest.py). The ranges are recorded done with the next ledger
        write (the next flush's, or after a quiet second, a revocation or the drain).

        Dead letters go first: a worker killed after the insert is followed by one that
        resumes past it, which would never read this batch's earlier bad messages again."""
        batch, self.batch = self.batch, Batch()
        job = self.job
        if not batch.consumed or not isinstance(job, ConsumerJob):
            return
        self._last_flush = time.monotonic()
        sink = self.dead_letters
        if sink is not None:
            self._retrying(lambda: sink.send(batch.dead_letters), "dead-letter")
        spans = list(batch.spans.values())
        # Only a range with rows to insert is recorded: one with none has nothing to replay
        # (its dead letters are already sent), and the commit says it is finished. A job
        # whose flushes are mostly empty (sentiment: whales are rare) then writes no ledger.
        inserting = [span for span in spans if span.rows]
        flushing = {(span.topic, span.partition) for span in inserting}
        settled = [span for span in self._unsettled if (span.topic, span.partition) not in flushing]
        self._record([*_entries(inserting, State.PENDING), *_entries(settled, State.DONE)])
        self._unsettled = []
        flushed_ms, insert_seconds = _now_ms(), 0.0
        # One after the other: inserting a flush's partitions at once, in threads, was slower
        # on the embedded engine (BENCHMARKS.md). Each partition's delta goes out as soon as
        # its insert returned, not after the flush's last insert: it holds only what is
        # stored, and a copy sent again after a crash is one the dashboard already counts
        # (trademonitor/live.py, DeltaFilter).
        for span in spans:
            started = time.monotonic()
            inserted_ms = self._insert(job, span)
            insert_seconds += time.monotonic() - started
            self._publish(job, batch, span, flushed_ms, inserted_ms)
        self.metrics.INSERT_SECONDS.labels(job=job.name).observe(insert_seconds)
        self._retrying(lambda: self.consumer.commit(offsets=batch.offsets_to_commit(), asynchronous=False),
                       "commit offsets")
        self._unsettled = inserting
        self._count(job, batch)

    def _count(self, job: ConsumerJob[Any], batch: Batch[Any]) -> None:
        """A committed batch in the drain's counts and the metrics."""
        labels = {"job": job.name}
        dead_lettered = self.dead_letters is not None
        self.counts["consumed"] += batch.consumed
        self.counts["inserted"] += batch.inserted
        self.counts["dead_lettered" if dead_lettered else "rejected"] += len(batch.dead_letters)
        self.metrics.CONSUMED.labels(**labels).inc(batch.consumed)
        self.metrics.INSERTED.labels(**labels).inc(batch.inserted)
        self.metrics.BATCH_ROWS.labels(**labels).observe(batch.consumed)
        for letter in batch.dead_letters:
            self.metrics.REJECTED.labels(job=job.name, reason=letter.rejection.reason,
                                         dead_lettered=str(dead_lettered).lower()).inc()

    def _publish(self, job: ConsumerJob[Any], batch: Batch[Any], span: Span[Any], flushed_ms: int,
                 inserted_ms: int) -> None:
        """One delta a partition, as each was one insert: a snapshot holds all or nothing of
        it (trademonitor/live.py, DeltaFilter). It names every offset the span consumed,
        good or dead-lettered: consecutive deltas of a partition then cover consecutive
        offsets, and the dashboard can tell a lost one."""
        delta = job.delta(batch.only(span))
        if delta is None:
            return
        delta["consumed"] = {str(span.partition): [span.first, span.last]}
        if delta["type"] == contract.TRADES_DELTA:
            delta["stamps"] = {"polls": span.polls, "flushed": flushed_ms, "inserted": inserted_ms,
                               "published": _now_ms()}
        self.deltas.publish(delta)

    def _insert(self, job: ConsumerJob[Any], span: Span[Any]) -> int:
        """One partition's rows, retried identically, on a replica of its shard; returns when
        the insert returned (epoch ms)."""
        if span.rows:
            self._retrying(lambda: self.shards.write(span.partition, lambda client: job.write(client, span)),
                           f"insert of {span.topic}/{span.partition} offsets {span.first}-{span.last}")
        return _now_ms()

    def _record(self, entries: list[ledger.Entry]) -> None:
        """Write entries to the insert-intent ledger."""
        topic = self.job.topics[0]  # a consumer job reads one topic
        self._retrying(lambda: ledger.record(self.clickhouse, self.job.name, topic, entries), "write the ledger")

    def _settle(self) -> None:
        """Record the last flush's ranges done, while this worker still owns them (a DONE
        written after another owner's PENDING would hide that range from a replay)."""
        if self._unsettled:
            self._record(_entries(self._unsettled, State.DONE))
            self._unsettled = []

    def _retrying(self, action: Callable[[], T], what: str) -> T:
        """Run `action` until it succeeds and return what it returns, backing off; a data
        error is not retried."""
        delay = 0.1
        while True:
            try:
                return action()
            except RETRYABLE as exc:
                if isinstance(exc, DatabaseError) and not is_transient(exc):
                    raise Refused(f"ClickHouse refused the {what}: {str(exc).splitlines()[0][:500]}") from exc
                if _fatal(exc) or (self.stop.is_set() and self._past_deadline()):
                    raise
                logger.warning("%s failed (%s); retrying in %.1f s", what, str(exc).splitlines()[0][:200], delay)
                if isinstance(exc, DJANGO_UNAVAILABLE):
                    close_old_connections()  # a broken connection is opened again, not reused
                deadline = time.monotonic() + delay
                while time.monotonic() < deadline:
                    self._beat()  # waiting is not hanging
                    time.sleep(min(0.5, delay))
                delay = min(delay * 2, MAX_RETRY_SECONDS)

    def _past_deadline(self) -> bool:
        return time.monotonic() > self._drain_deadline

    # -- rebalances and shutdown -------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        job = self.job
        if isinstance(job, ElectedJob):
            consumer.assign(partitions)
            consumer.pause(partitions)  # a member of the group for the election only
            logger.info("assigned %s", [f"{tp.topic}/{tp.partition}" for tp in partitions])
            return
        topic = job.topics[0]
        entries = self._retrying(lambda: ledger.read(self.clickhouse, job.name, topic), "read the ledger")
        committed = {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(partitions, timeout=30)}
        finished = []
        for tp in partitions:
            entry = entries.get(tp.partition) if tp.topic == topic else None
            if entry is None:
                continue
            tp.offset = self._resume(tp, entry, committed[(tp.topic, tp.partition)])
            if entry.state is State.PENDING and (tp.topic, tp.partition) not in self.replaying:
                finished.append(replace(entry, state=State.DONE))
        if finished:  # inserted and committed by a worker that stopped before recording them done
            self._record(finished)
        consumer.assign(partitions)
        if self.replaying:
            self._pause([(tp.topic, tp.partition) for tp in partitions
                         if (tp.topic, tp.partition) not in self.replaying])
        self._announce_resumes(job, partitions)
        logger.info("assigned %s", [f"{tp.topic}/{tp.partition}" for tp in partitions])

    def _resume(self, tp: TopicPartition, entry: ledger.Entry, committed: int) -> int:
        """Where a partition with a ledger entry resumes (workers/ingest.py): after a finished
        range (DONE, or committed past), else at the start of the pending range, replayed."""
        if not entry.finished(committed):
            self.replaying[(tp.topic, tp.partition)] = entry.last
            logger.info("partition %s/%d replays its pending range %d-%d exactly", tp.topic, tp.partition,
                        entry.first, entry.last)
            return entry.first
        if entry.last + 1 > committed:
            logger.info("partition %s/%d resumes at %d from the ledger (committed: %s)", tp.topic, tp.partition,
                        entry.last + 1, committed)
        return max(entry.last + 1, committed)

    def _announce_resumes(self, job: ConsumerJob[Any], partitions: list[TopicPartition]) -> None:
        """Tell the dashboards where this worker resumes a partition from the ledger: an
        empty delta whose consumed range starts there. A delta lost with a
        worker killed between insert and publish then shows as a gap at once, rather than
        only when the partition's next trades arrive, which after the last ones is never."""
        resumes = {str(tp.partition): [tp.offset, tp.offset - 1] for tp in partitions if tp.offset >= 0}
        delta = job.delta(Batch()) if resumes else None
        if delta is not None:
            delta["consumed"] = resumes
            self.deltas.publish(delta)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Finish what was consumed from these partitions before another worker takes them.
        self._revocations += 1
        self._abandon_replays()
        self.flush()
        self._settle()
        logger.info("revoked %s", [f"{tp.topic}/{tp.partition}" for tp in partitions])

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Someone else owns them now: what we hold must not be committed. ClickHouse
        # deduplication and resume positions make a later re-read harmless.
        logger.warning("lost %s; dropping the unflushed batch", partitions)
        self._revocations += 1
        self._abandon_replays()
        self.batch, self._unsettled = Batch(), []  # no longer ours to record

    def _abandon_replays(self) -> None:
        """Stopped or revoked halfway through replaying: drop the batch rather than flush part
        of a range under another token. Nothing of it was recorded or committed; the
        ledger still says pending, and the next owner replays the range. Rebalancing is
        eager (librdkafka's default assignors): every partition is revoked, and the next
        assignment seeks each one afresh, so no dropped message is skipped."""
        if self.replaying:
            logger.warning("dropping the batch: pending ranges of %s not yet replayed in full", sorted(self.replaying))
            with contextlib.suppress(KafkaException):  # the partitions are going anyway
                self._resume_paused()
            self.batch, self._held, self._paused = Batch(), [], []
            self.replaying.clear()

    def _drain(self) -> None:
        self._drain_deadline = time.monotonic() + self.options.drain_seconds
        self._abandon_replays()
        self.flush()
        self._settle()
        logger.info("drained: %s", self.counts)

    def _report_status(self) -> None:
        if self.status_queue is None:
            return
        assignment = self.consumer.assignment()
        lag = {}
        for tp in assignment:
            try:
                low, high = self.consumer.get_watermark_offsets(tp, cached=True)
                position = self.consumer.position([tp])[0].offset
            except Exception:  # noqa: BLE001 - status is best effort
                continue
            if position >= 0 and high >= 0:
                behind = lag[f"{tp.topic}/{tp.partition}"] = max(0, high - position)
                self.metrics.LAG.labels(job=self.job.name, topic=tp.topic, partition=tp.partition).set(behind)
        try:
            self.status_queue.put_nowait({
                "slot": self.options.slot, "job": self.job.name, "pid": os.getpid(),
                "partitions": sorted(f"{tp.topic}/{tp.partition}" for tp in assignment),
                "lag": lag, "deltas_dropped": self.deltas.dropped, **self.counts,
            })
        except Exception:  # noqa: BLE001 - a full queue only delays the status
            pass


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _entries(spans: list[Span[Any]], state: State) -> list[ledger.Entry]:
    return [ledger.Entry(span.partition, span.first, span.last, state) for span in spans]


# Errors after which this consumer is unusable, whatever `fatal()` says: a fenced
# static member (seen after a broker restart) and librdkafka's own "fatal error".
UNUSABLE = {KafkaError._FATAL, KafkaError.FENCED_INSTANCE_ID}


def _consumer_error(error: KafkaError) -> None:
    """An error polled in place of a message: fatal ones end the client, others are logged."""
    if error.fatal() or error.code() in UNUSABLE:
        raise KafkaException(error)
    if error.code() != KafkaError._PARTITION_EOF:
        logger.warning("consumer error: %s", error)


def _fatal(exc: Exception) -> bool:
    """A Kafka error that waiting will not fix: the client must be replaced."""
    if not (isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError)):
        return False
    return exc.args[0].fatal() or exc.args[0].code() in UNUSABLE


def _die_with_the_supervisor() -> None:
    """Be killed when the supervisor dies, however it dies (Linux's PR_SET_PDEATHSIG).

    An orphaned worker would keep consuming beside the workers of a restarted
    supervisor; killed, it is one more worker killed between insert and commit,
    which the exactly-once design covers.
    """
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: an orphan runs until it is stopped by hand
        return
    supervisor = multiprocessing.parent_process()
    if supervisor is not None and os.getppid() != supervisor.pid:  # it died before the call
        os.kill(os.getpid(), signal.SIGKILL)


def _take_over_garbage_collection() -> None:
    """Switch off automatic garbage collection; the loop collects between batches.

    A batch is tens of thousands of fresh tuples, and automatic collection walks
    them again and again while the batch grows (BENCHMARKS.md, "Measurements behind
    design choices"). Collected once a second when no batch is open
    (Worker._collect_garbage), cycles still go soon.
    What exists now (modules, clients) is frozen out of every later collection.
    """
    gc.disable()
    gc.collect()
    gc.freeze()


def run_worker(job: JobSpec, options: WorkerOptions, heartbeat: Synchronized[float], stop: EventType,
               status_queue: Queue[dict[str, Any]]) -> None:
    """Entry point of a spawned worker process."""
    import django

    _die_with_the_supervisor()
    django.setup()
    from django.db import connections

    # The supervisor handles signals; a worker stops when `stop` is set.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        worker = Worker(job.build(), options, heartbeat, stop, status_queue)
    except DatabaseError as exc:  # the client's first query: wrong database or user, say
        if is_transient(exc):
            raise
        logger.error("ClickHouse refused the worker's connection: %s", str(exc).splitlines()[0][:500])
        raise SystemExit(EXIT_FATAL) from None
    connections.close_all()
    _take_over_garbage_collection()
    code = worker.run()
    raise SystemExit(code)
