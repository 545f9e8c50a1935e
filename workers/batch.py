"""What a worker has consumed since its last flush.

Everything needed to make the flush exactly-once: the good rows, the dead
letters, and per partition the range of offsets consumed, from which come the
deterministic deduplication token of the insert and the offsets to commit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Message, TopicPartition

from workers.validation import Rejection

Row = tuple[Any, ...]  # what a job's parse made of a message


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Any  # as confluent-kafka gives them
    rejection: Rejection


@dataclass
class Batch:
    rows: list[Row] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    # (topic, partition) -> (first offset, last offset) of every message consumed.
    ranges: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def add(self, message: Message, outcome: Row | Rejection) -> None:
        # A consumed message always has its topic, partition and offset.
        topic, partition, offset = message.topic() or "", message.partition() or 0, message.offset() or 0
        position = (topic, partition)
        first = self.ranges.get(position, (offset, offset))[0]
        self.ranges[position] = (first, offset)
        if isinstance(outcome, Rejection):
            self.dead_letters.append(DeadLetter(
                topic, partition, offset, message.key(), message.value(), message.headers(), outcome,
            ))
        else:
            self.rows.append(outcome)

    @property
    def consumed(self) -> int:
        return len(self.rows) + len(self.dead_letters)

    def age_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000

    def deduplication_token(self, job: str) -> str:
        """The same messages always give the same token, so a retried insert is dropped."""
        spans = ",".join(f"{topic}/{partition}:{first}-{last}" for (topic, partition), (first, last)
                         in sorted(self.ranges.items()))
        return f"{job}|{spans}"

    def offsets_to_commit(self) -> list[TopicPartition]:
        return [TopicPartition(topic, partition, last + 1) for (topic, partition), (_, last) in self.ranges.items()]
