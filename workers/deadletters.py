"""Dead letters: malformed messages copied to `<topic>.dlq`.

The original key and bytes are kept; headers say why and where from. The sends
are flushed before the offsets that cover them are committed, so a rejected
message is never lost.

A value above MAX_VALUE_BYTES is cut to that size, with a `truncated_from`
header giving its length: a dead letter is the source message plus headers, and
must fit the broker's limit even when the source message filled it. The whole
original stays in the source topic at the partition and offset in the headers.
"""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError, Message, Producer

from infra.kafka import idempotent_producer_config
from workers.batch import DeadLetter

logger = logging.getLogger(__name__)

MAX_VALUE_BYTES = 512 * 1024


class DeadLetterError(Exception):
    """Kafka did not acknowledge every dead letter; the batch must not be committed."""


class DeadLetterSink:
    def __init__(self, suffix: str = ".dlq", job: str = "ingest"):
        self.suffix = suffix
        self.job = job
        self._failed = 0
        self._producer = Producer(idempotent_producer_config(**{
            "linger.ms": 5, "message.max.bytes": 4 << 20, "on_delivery": self._on_delivery,
        }))

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._failed += 1
            logger.error("dead letter not delivered: %s", error)

    def send(self, dead_letters: list[DeadLetter], timeout: float = 30.0) -> None:
        if not dead_letters:
            return
        self._failed = 0
        for letter in dead_letters:
            headers = [
                ("reason", letter.rejection.reason.encode()),
                ("detail", letter.rejection.detail.encode("utf-8", "replace")),
                ("source_topic", letter.topic.encode()),
                ("source_partition", str(letter.partition).encode()),
                ("source_offset", str(letter.offset).encode()),
                ("job", self.job.encode()),
                *(letter.headers or []),
            ]
            value = letter.value
            if value is not None and len(value) > MAX_VALUE_BYTES:
                headers.append(("truncated_from", str(len(value)).encode()))
                value = value[:MAX_VALUE_BYTES]
            self._producer.produce(letter.topic + self.suffix, value, letter.key, headers=headers)
            self._producer.poll(0)
        undelivered = self._producer.flush(timeout)
        if undelivered or self._failed:
            raise DeadLetterError(f"{undelivered + self._failed} dead letters not acknowledged by Kafka")
