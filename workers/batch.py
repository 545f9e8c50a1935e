"""What a worker has consumed since its last flush.

Everything needed to make the flush exactly-once: per partition a `Span` (the range
of offsets consumed and the good rows among them), and the dead letters. A span is
inserted on its own, as one block whose deduplication token is its range, so the
same offsets always give the same insert.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from confluent_kafka import Message, TopicPartition

from workers.validation import Rejection

RowT = TypeVar("RowT", bound=tuple[Any, ...])  # what a job's parse made of a message


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
class Span(Generic[RowT]):
    """One partition's share of a batch: offsets first..last and the good rows among them."""

    topic: str
    partition: int
    first: int
    last: int
    rows: list[RowT] = field(default_factory=list)
    polls: list[list[int]] = field(default_factory=list)  # [first offset, epoch ms] of each poll (contract.Stamps)

    @property
    def deduplication_token(self) -> str:
        """`topic-partition-first-last`: the same offsets always give the same token."""
        return f"{self.topic}-{self.partition}-{self.first}-{self.last}"


@dataclass
class Batch(Generic[RowT]):
    """What a worker consumed since its last flush: a span per partition, and the dead letters."""

    spans: dict[tuple[str, int], Span[RowT]] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    consumed: int = 0
    started: float = 0.0  # time.monotonic() when the first message was added: the linger runs from here

    def add(self, message: Message, outcome: RowT | Rejection, polled_ms: int) -> None:
        # A consumed message always has its topic, partition and offset.
        topic, partition, offset = message.topic() or "", message.partition() or 0, message.offset() or 0
        span = self.spans.get((topic, partition))
        if span is None:
            if not self.spans:  # the batch's first message
                self.started = time.monotonic()
            span = self.spans[(topic, partition)] = Span(topic, partition, offset, offset)
        if not span.polls or span.polls[-1][1] != polled_ms:
            span.polls.append([offset, polled_ms])
        span.last = offset
        self.consumed += 1
        if isinstance(outcome, Rejection):
            self.dead_letters.append(DeadLetter(
                topic, partition, offset, message.key(), message.value(), message.headers(), outcome,
            ))
        else:
            span.rows.append(outcome)

    @property
    def rows(self) -> list[RowT]:
        """Every good row, partition by partition."""
        return [row for span in self.spans.values() for row in span.rows]

    @property
    def inserted(self) -> int:
        return sum(len(span.rows) for span in self.spans.values())

    def age_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000

    def only(self, span: Span[RowT]) -> Batch[RowT]:
        """The part of this batch that is `span` (its dead letters left out)."""
        return Batch(spans={(span.topic, span.partition): span}, consumed=span.last - span.first + 1,
                     started=self.started)

    def offsets_to_commit(self) -> list[TopicPartition]:
        return [TopicPartition(span.topic, span.partition, span.last + 1) for span in self.spans.values()]
