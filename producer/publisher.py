"""Writing generated trades to Kafka at a steady rate, or as fast as possible.

Rate control follows a schedule rather than sleeping a fixed time per message:
trade n is due at start + n / rate, so the rate cannot drift however long it
runs. Delivery failures are counted (librdkafka reports only failed messages),
never dropped in silence: whatever is not delivered after the final flush
counts as failed too.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from infra.kafka import MESSAGE_MAX_BYTES, idempotent_producer_config
from producer import malformed
from producer.trades import TradeGenerator, now_ms

logger = logging.getLogger(__name__)

CHUNK = 1000
LOG_EVERY = 100_000

# Batching for throughput; idempotence so a retried send cannot duplicate a trade.
PRODUCER_CONFIG = {
    "linger.ms": 20,
    "batch.size": 1 << 20,
    "message.max.bytes": MESSAGE_MAX_BYTES,  # the 1 MB hostile messages of producer/malformed.py go out
    "batch.num.messages": 100_000,
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 1 << 20,
    "delivery.report.only.error": True,
}


@dataclass
class ProductionReport:
    produced: int = 0
    failed: int = 0
    seconds: float = 0.0
    bad_by_kind: Counter = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.produced / self.seconds if self.seconds else 0.0


def _logged_numbers(first: int, last: int) -> list[int]:
    """Trade numbers (from 1) in [first, last] to log: the first, then every LOG_EVERY-th, like the seed."""
    next_round = -(-first // LOG_EVERY) * LOG_EVERY
    return ([1] if first == 1 else []) + list(range(next_round, last + 1, LOG_EVERY))


class TradePublisher:
    def __init__(self, topic: str, generator: TradeGenerator, rate: float, bad_ratio: float = 0.0,
                 seed: int | None = None, on_trade: Callable[[bytes], object] | None = None, **config: Any):
        """`on_trade(value)` is called with every good trade sent (say, to tally it)."""
        self.topic = topic
        self.generator = generator
        self.rate = rate
        self.bad_ratio = bad_ratio
        self._rng = random.Random(None if seed is None else seed + 1)
        self.report = ProductionReport()
        self._on_trade = on_trade
        self._producer = Producer(idempotent_producer_config(**PRODUCER_CONFIG, on_delivery=self._on_delivery, **config))

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.report.failed += 1
            if self.report.failed <= 10:
                logger.error("delivery failed: %s", error)

    def run(self, count: int | None = None, stop: threading.Event | None = None,
            on_progress: Callable[[int], object] | None = None) -> ProductionReport:
        stop = stop or threading.Event()
        started = time.monotonic()
        produced = 0
        while (count is None or produced < count) and not stop.is_set():
            size = self._due(produced, time.monotonic() - started, count)
            if size == 0:
                stop.wait(min(0.05, (produced + 1) / self.rate - (time.monotonic() - started)))
                continue
            for key, value in self._messages(size, produced):
                self._send(key, value)
            produced += size
            self._producer.poll(0)
            if on_progress:
                on_progress(size)
        self.report.produced = produced
        self.report.seconds = time.monotonic() - started
        self._producer.flush(30)
        self.report.failed += len(self._producer)  # still undelivered after the flush
        return self.report

    def _due(self, produced: int, elapsed: float, count: int | None) -> int:
        remaining = CHUNK if count is None else min(CHUNK, count - produced)
        if not self.rate:
            return remaining
        return max(0, min(remaining, int(elapsed * self.rate) + 1 - produced))

    def _messages(self, size: int, produced: int) -> list[tuple[str | bytes | None, bytes]]:
        messages: list[tuple[str | bytes | None, bytes]] = list(self.generator.batch(size, now_ms()))
        for number in _logged_numbers(produced + 1, produced + size):
            logger.info("trade %d: %s", number, messages[number - produced - 1][1].decode())
        if self.bad_ratio:
            for position in range(size):
                if self._rng.random() < self.bad_ratio:
                    messages[position] = self._malformed(messages[position])
                elif self._on_trade:
                    self._on_trade(messages[position][1])
        elif self._on_trade:
            for _key, value in messages:
                self._on_trade(value)
        return messages

    def _malformed(self, message: tuple[str | bytes | None, bytes]) -> tuple[bytes | None, bytes]:
        good = json.loads(message[1])
        trade = (good["id"], good["timestamp"], good["symbol"], good["price"], good["quantity"])
        bad = malformed.make(self._rng.choice(sorted(malformed.KINDS)), trade, self._rng)
        self.report.bad_by_kind[bad.kind] += 1
        return bad.key, bad.value

    def _send(self, key: str | bytes | None, value: bytes) -> None:
        while True:
            try:
                self._producer.produce(self.topic, value, key)
                return
            except BufferError:
                # The local queue is full: let librdkafka deliver, then retry.
                self._producer.poll(0.05)
            except KafkaException as exc:
                # Refused before sending (e.g. larger than the broker accepts): counted, never silent.
                self._on_delivery(exc.args[0], None)
                return
