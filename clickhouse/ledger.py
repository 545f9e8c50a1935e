"""The insert-intent ledger: per (job, topic, partition), the offsets of the last flush
and whether its insert finished (migration 0006; workers/ingest.py says why).

A worker writes every range of a flush as PENDING before it inserts, and as DONE
after. Each write replaces the key's one row, so a read gives the latest state.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from clickhouse import native

TABLE = "ingest_ledger"
COLUMNS = ("key", "job", "topic", "kafka_partition", "first_offset", "last_offset", "state", "updated_at")
WIRE_TYPES = ("String", "String", "String", "UInt16", "UInt64", "UInt64", "String", "DateTime64(3, 'UTC')")

# Synchronous and not deduplicated: a state written again must replace the row
# (chdb defaults to async_insert=1; a repeated PENDING is a write like any other).
WRITE_SETTINGS = {"async_insert": 0, "insert_deduplicate": 0}

READ_SQL = f"""
    SELECT kafka_partition, first_offset, last_offset, toString(state)
    FROM {TABLE}
    WHERE job = {{job:String}} AND topic = {{topic:String}}
"""


class State(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"


@dataclass(frozen=True)
class Entry:
    partition: int
    first: int
    last: int
    state: State

    def finished(self, committed: int) -> bool:
        """Whether the range's insert completed: recorded DONE, or Kafka has committed past
        it (a worker stopped after its commit and before recording it done; the
        partition's next owner records it). `committed` is negative when there is none."""
        return self.state is State.DONE or committed > self.last


def key(job: str, topic: str, partition: int) -> str:
    return f"{job}/{topic}/{partition}"


def record(client: Client, job: str, topic: str, entries: Iterable[Entry], table: str = TABLE) -> None:
    """Write `entries` of one job and topic in one insert (`table`: another engine's copy,
    for `bench ledger`)."""
    rows = list(entries)
    if not rows:
        return
    now_ms = time.time_ns() // 1_000_000
    columns = (
        [key(job, topic, entry.partition) for entry in rows],
        [job] * len(rows),
        [topic] * len(rows),
        [entry.partition for entry in rows],
        [entry.first for entry in rows],
        [entry.last for entry in rows],
        [entry.state.value for entry in rows],
        [now_ms] * len(rows),
    )
    block = native.block(list(zip(COLUMNS, WIRE_TYPES, columns, strict=True)))
    client.raw_insert(table, COLUMNS, insert_block=block, fmt="Native", settings=WRITE_SETTINGS)


def read(client: Client, job: str, topic: str) -> dict[int, Entry]:
    """partition -> the latest entry of `job` on `topic`."""
    rows = client.query(READ_SQL, parameters={"job": job, "topic": topic}).result_rows
    return {partition: Entry(partition, first, last, State(state)) for partition, first, last, state in rows}
