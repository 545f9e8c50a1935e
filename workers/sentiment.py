"""The sentiment job, as the seed's `remote-job-sub-1`: every trade is a WHALE when
its quantity is above a threshold (SENTIMENT_WHALE_QUANTITY, 5,000), else a MINNOW.

It reads the same topic as ingest in a consumer group of its own, validates the
same way, and writes `trade_sentiment` with the same exactly-once machinery: one
deduplicated insert per batch, resuming where `symbol_sentiment` says it got to.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client
from django.conf import settings

from clickhouse import native
from clickhouse.writer import INSERT_SETTINGS
from workers.batch import Batch
from workers.ingest import IngestJob, offset_spans

COLUMNS = ("id", "ts", "symbol", "quantity", "sentiment", "kafka_partition", "kafka_offset")
WIRE_TYPES = ("UUID", "DateTime64(3, 'UTC')", "String", "UInt32", "String", "UInt16", "UInt64")


def classify(quantity: int, threshold: int) -> str:
    return "WHALE" if quantity > threshold else "MINNOW"


class SentimentJob(IngestJob):
    name = "sentiment"
    delta_group = "sentiment.deltas"

    def __init__(self, topic: str, threshold: int | None = None, **kwargs):
        super().__init__(topic, **kwargs)
        self.threshold = settings.SENTIMENT_WHALE_QUANTITY if threshold is None else threshold

    def write(self, client: Client, batch: Batch) -> None:
        if not batch.rows:
            return
        ids, timestamps, symbols, _prices, quantities, partitions, offsets = zip(*batch.rows)
        sentiments = [classify(quantity, self.threshold) for quantity in quantities]
        columns = (ids, timestamps, symbols, quantities, sentiments, partitions, offsets)
        client.raw_insert(
            "trade_sentiment", COLUMNS, insert_block=native.block(list(zip(COLUMNS, WIRE_TYPES, columns))),
            fmt="Native", settings={**INSERT_SETTINGS, "insert_deduplication_token": batch.deduplication_token(self.name)},
        )

    def resume_positions(self, client: Client) -> dict[tuple[str, int], int]:
        rows = client.query("SELECT kafka_partition, max(max_offset) FROM symbol_sentiment GROUP BY kafka_partition")
        return {(self.topics[0], partition): offset + 1 for partition, offset in rows.result_rows}

    def delta(self, batch: Batch) -> dict:
        """New whales per symbol and the offsets they cover (the dashboard's whale column);
        sent for every batch, as ingest's."""
        whales: dict[str, int] = {}
        for _id, _ts, symbol, _price, quantity, _partition, _offset in batch.rows:
            if quantity > self.threshold:
                whales[symbol] = whales.get(symbol, 0) + 1
        return {"type": "sentiment.delta", "topic": self.topics[0], "offsets": offset_spans(batch.rows),
                "whales": whales}
