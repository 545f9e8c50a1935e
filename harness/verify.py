"""`manage.py verify`: exactly-once, checked on the ClickHouse and Kafka you point it at.

It produces N trades to a topic of its own, runs the worker pool (ingest and sentiment)
on a database of its own, kills the pool's workers while the insert-intent ledger
shows a flush in progress, lets the supervisor restart them, waits until both
consumer groups have committed all N, and compares what ClickHouse stored with what
was produced: ids, per-symbol trades, shares and volume, the candles and the
sentiment counts. Nothing of the project's own topic or database is touched; both
scratch copies are removed afterwards unless kept.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client
from confluent_kafka import Consumer, TopicPartition
from django.conf import settings

from clickhouse import ledger, queries
from harness.pool import database_url, start_pool, stop_pool, worker_pids
from harness.progress import progress
from harness.scratch import scratch_database, scratch_django_database
from harness.tally import Tally, produce
from infra.kafka import client_config, delete_topics, ensure_topic

logger = logging.getLogger(__name__)

JOBS = ("ingest", "sentiment")
REPLAYED = re.compile(r"replays its pending range")
STARTED = re.compile(r"ingest worker (\d+) started \(pid (\d+)\)")
# Below the pool's default (50,000): the backlog is then several flushes a worker, each one a
# flush to kill; with the default, 60,000 trades are two or three flushes in all.
MAX_BATCH_ROWS = 10_000


@dataclass
class Report:
    trades: int
    kills: int = 0  # times the workers were killed with a range pending
    replays: int = 0  # pending ranges the restarted workers replayed
    seconds: float = 0.0
    differences: list[str] = field(default_factory=list)
    resume_positions: dict[int, str] = field(default_factory=dict)  # the ledger's last ranges, max_offset beside

    @property
    def exact(self) -> bool:
        return not self.differences


def run(trades: int, processes: int, kills: int, timeout: float, keep: bool = False,
        max_batch_rows: int = MAX_BATCH_ROWS) -> Report:
    name = f"verify-{uuid.uuid4().hex[:8]}"
    ensure_topic(name, settings.KAFKA_TOPIC_PARTITIONS)
    report = Report(trades)
    try:
        sent = produce(name, trades)
        with scratch_database("verify", keep=keep) as (database, writer, _reader), \
                scratch_django_database() as django_database, _pool_log() as log:
            environment = {
                "CLICKHOUSE_URL": database_url(settings.CLICKHOUSE_URL, database),
                "CLICKHOUSE_READONLY_URL": database_url(settings.CLICKHOUSE_READONLY_URL, database),
                "DATABASE_URL": django_database,
                "KAFKA_TOPIC": name,
            }
            started = time.monotonic()
            pool = start_pool(name, f"{name}-group", environment, processes,
                              *(arg for job in JOBS for arg in ("--job", job)),
                              "--max-batch-rows", str(max_batch_rows),
                              "--max-crashes", str(kills * processes + 5), log=log)  # the kills are ours
            try:
                report.kills = _kill_mid_flush(pool, log, writer, name, processes, kills, trades, started + timeout)
                _wait_committed(name, [f"{name}-group", f"{name}-group.sentiment"], trades, started + timeout)
                report.seconds = round(time.monotonic() - started, 1)
            except (RuntimeError, TimeoutError) as exc:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                raise RuntimeError(f"{exc}; the pool's log ends:\n{tail}") from None
            finally:
                stop_pool(pool)
            report.replays = len(REPLAYED.findall(log.read_text(errors="replace")))
            report.resume_positions, unfinished = _ledger_check(writer, name, f"{name}-group")
            report.differences = (sent.differences(Tally.stored(writer)) + sent.view_differences(writer)
                                  + stored_differences(writer) + unfinished)
    finally:
        if not keep:
            delete_topics(name)
    return report


def _kill_mid_flush(pool: subprocess.Popen, log: Path, client: Client, topic: str, processes: int, kills: int, trades: int,
                    deadline: float) -> int:
    """SIGKILL the pool's ingest workers each time the ledger shows a new range pending (a
    flush under way, not the one a kill interrupted), up to `kills` times; the supervisor
    restarts them. Stops early once the ledger has every trade done: no flush is left to
    kill. Returns how many times it killed."""
    done, killed_during = 0, set[ledger.Entry]()
    with progress(kills, "killing workers mid-flush", "kills") as bar:
        while done < kills and time.monotonic() < deadline:
            if pool.poll() is not None:
                raise RuntimeError(f"the worker pool exited with {pool.returncode}")
            entries = ledger.read(client, "ingest", topic).values()
            if _all_done(entries, trades):
                break
            pending = {entry for entry in entries if entry.state is ledger.State.PENDING}
            # A new flush, every worker up (the log is read only then, not every 5 ms).
            if pending - killed_during and len(workers := _ingest_workers(pool.pid, log)) == processes:
                for pid in workers:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                done, killed_during = done + 1, killed_during | pending
                bar.update()
            time.sleep(0.005)
    return done


def _all_done(entries: Collection[ledger.Entry], trades: int) -> bool:
    """Every offset of a fresh topic's `trades` messages in a range recorded done."""
    return all(entry.state is ledger.State.DONE for entry in entries) and sum(
        entry.last + 1 for entry in entries) >= trades


def _ingest_workers(supervisor: int, log: Path) -> set[int]:
    """The live ingest workers' pids, as the supervisor logged them when it started them."""
    started = dict(STARTED.findall(log.read_text(errors="replace")))  # the latest pid of each slot
    return {int(pid) for pid in started.values()} & set(worker_pids(supervisor))


def _wait_committed(topic: str, groups: list[str], messages: int, deadline: float) -> None:
    with progress(messages * len(groups), "waiting for the commits", "messages") as bar:
        while True:
            covered = sum(_committed(topic, group) for group in groups)
            bar.update(covered - bar.n)
            if covered >= messages * len(groups):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"after the deadline the groups' commits cover {covered:,} of "
                                   f"{messages * len(groups):,} messages")
            time.sleep(0.5)


def _committed(topic: str, group: str) -> int:
    return sum(max(0, offset) for offset in _committed_offsets(topic, group).values())


def _committed_offsets(topic: str, group: str) -> dict[int, int]:
    """partition -> `group`'s committed offset on `topic` (negative: none)."""
    consumer = Consumer(client_config(**{"group.id": group}))
    try:
        partitions = [TopicPartition(topic, p) for p in range(settings.KAFKA_TOPIC_PARTITIONS)]
        return {tp.partition: tp.offset for tp in consumer.committed(partitions, timeout=10)}
    finally:
        consumer.close()


def _ledger_check(client: Client, topic: str, group: str) -> tuple[dict[int, str], list[str]]:
    """Per partition, whether the ledger's last range is finished (the rule a worker
    resumes by), with max(max_offset) + 1, the old rule, beside it; and a difference for
    each unfinished one, as every offset was committed. A range can be finished yet
    PENDING: a worker killed after its commit, whose partition the stop reached before
    a new owner was assigned it and recorded it done."""
    recorded = queries.ingested_offsets(client)
    committed = _committed_offsets(topic, group)
    positions, unfinished = {}, []
    for partition, entry in sorted(ledger.read(client, "ingest", topic).items()):
        finished = entry.finished(committed[partition])
        positions[partition] = (f"ledger {'finished' if finished else 'UNFINISHED'} up to {entry.last} "
                                f"({entry.state.value}, committed {committed[partition]}), "
                                f"max_offset {recorded.get(partition)}")
        if not finished:
            unfinished.append(f"partition {partition}: the ledger's range {entry.first}-{entry.last} is "
                              f"pending, yet every offset was committed")
    return positions, unfinished


@contextlib.contextmanager
def _pool_log() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="trademonitor-verify-") as directory:
        yield Path(directory) / "runworkers.log"


def stored_differences(client: Client) -> list[str]:
    """Where a table a materialized view keeps disagrees with the table it is kept from,
    on `client`'s database. A flush in progress shows for a moment as a difference: run it
    with the workers stopped, or again to see whether a difference stays."""
    checks = (
        ("symbol_totals", "trades", queries.totals_check, lambda row: row["symbol"]),
        ("candles_1m", "trades", queries.candles_check, lambda row: f"{row['symbol']} at {row['minute']:%Y-%m-%d %H:%M}"),
        ("symbol_sentiment", "trade_sentiment", queries.sentiment_check,
         lambda row: f"{row['symbol']} in partition {row['kafka_partition']}"),
    )
    return [f"{kept} differs from {source} for {where(row)}: {_changed(row)}"
            for kept, source, check, where in checks for row in check(client)]


def _changed(row: dict[str, Any]) -> str:
    """A check row's fields that differ, as "trades 3,233 kept, 3,235 recomputed"."""
    return "; ".join(f"{name} {_text(pair['kept'])} kept, {_text(pair['recomputed'])} recomputed"
                     for name, pair in row.items() if isinstance(pair, dict) and pair["kept"] != pair["recomputed"])


def _text(value: Any) -> str:
    return f"({', '.join(map(str, value))})" if isinstance(value, tuple) else str(value)
