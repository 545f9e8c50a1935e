"""The sentiment job, as the seed's `remote-job-sub-1`: every trade is a WHALE when
its quantity is above a threshold (SENTIMENT_WHALE_QUANTITY, 5,000), else a MINNOW.

It reads the same topic as ingest in a consumer group of its own, validates the
same way (workers/trades.py), and writes `trade_sentiment` with the same exactly-once
machinery: one deduplicated insert per partition and flush, and the insert-intent
ledger under its own name. Ingest dead-letters the bad messages; this job only counts them.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client
from confluent_kafka import Message
from django.conf import settings

import contract
from clickhouse.writer import insert_sentiment
from workers.batch import Batch, Span
from workers.jobs import ConsumerJob
from workers.trades import TradeParser, TradeRow, offset_spans
from workers.validation import Rejection, TradeRules


def classify(quantity: int, threshold: int) -> str:
    return "WHALE" if quantity > threshold else "MINNOW"


class SentimentJob(ConsumerJob[TradeRow]):
    name = "sentiment"
    delta_group = contract.SENTIMENT_GROUP
    # Each trade is inserted again here, as often as ingest inserts it, which doubled
    # ClickHouse's inserts; the whale column can lag a second (BENCHMARKS.md).
    min_flush_interval_ms = 1000

    def __init__(self, topic: str, threshold: int | None = None, rules: TradeRules | None = None):
        super().__init__(topic)
        self.parser = TradeParser(rules)
        self.threshold = settings.SENTIMENT_WHALE_QUANTITY if threshold is None else threshold

    def parse(self, message: Message, now_ms: int) -> TradeRow | Rejection:
        return self.parser(message, now_ms)

    def write(self, client: Client, span: Span[TradeRow]) -> None:
        ids, timestamps, symbols, _prices, quantities, partitions, offsets = zip(*span.rows, strict=True)
        sentiments = [classify(quantity, self.threshold) for quantity in quantities]
        insert_sentiment(client, (ids, timestamps, symbols, quantities, sentiments, partitions, offsets),
                         span.deduplication_token)

    def delta(self, batch: Batch[TradeRow]) -> contract.SentimentDelta:
        """New whales per symbol and the offsets they cover (the dashboard's whale column);
        sent for every batch, as ingest's."""
        whales: dict[str, int] = {}
        for _id, _ts, symbol, _price, quantity, _partition, _offset in batch.rows:
            if quantity > self.threshold:
                whales[symbol] = whales.get(symbol, 0) + 1
        return {"type": contract.SENTIMENT_DELTA, "topic": self.topics[0], "offsets": offset_spans(batch.rows),
                "whales": whales}
