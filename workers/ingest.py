"""The ingest job: trades from Kafka into ClickHouse, and their deltas to the dashboard.

Exactly-once effect
-------------------
Every trade on the topic ends up in `trades`, and in the totals, exactly once:

1. Offsets are committed only after ClickHouse acknowledged the insert of every
   good message they cover and Kafka acknowledged every dead letter.
2. A flush is one insert, one block, carrying a deduplication token built from the
   offset ranges it covers (`Batch.deduplication_token`). A retry (say, a request
   that timed out after ClickHouse applied it) resends the same block with the
   same token, and `trades` and every materialized-view target drop it
   (`non_replicated_deduplication_window`, dependent-view deduplication on,
   `async_insert=0`). The worker retries with backoff while ClickHouse is down,
   neither consuming nor committing meanwhile, so memory stays bounded.
3. A worker killed between insert and commit leaves ClickHouse ahead of Kafka.
   Whoever is assigned the partition next starts from the position ClickHouse
   recorded (`symbol_totals.max_offset` + 1) when that is ahead of the committed
   offset, so nothing is inserted twice.

Dead letters are at least once: they are sent (and acknowledged) before the
insert, so whoever resumes after a crash, from the committed offset or from
ClickHouse's position, has either seen them sent or reads them again; each carries
its source partition and offset, which identify duplicates. Sent after the insert,
a crash in between would lose them: the next worker resumes past them.

The one gap left is ClickHouse's own: it writes a block and the blocks of its
materialized views one after the other, so a server killed between the two
leaves them apart. `totals_check()` finds that.
"""

from __future__ import annotations

from typing import Any

from clickhouse_connect.driver.client import Client
from confluent_kafka import Message

import contract
from clickhouse import queries
from clickhouse.writer import insert_trades
from workers.batch import Batch
from workers.jobs import ConsumerJob, Positions
from workers.trades import TradeParser, TradeRow, offset_spans
from workers.validation import Rejection, TradeRules


class IngestJob(ConsumerJob):
    name = "ingest"
    delta_group = contract.TRADES_GROUP
    dead_letters = True  # the one job that records the topic's bad messages

    def __init__(self, topic: str, rules: TradeRules | None = None):
        super().__init__(topic)
        self.parser = TradeParser(rules)

    def parse(self, message: Message, now_ms: int) -> TradeRow | Rejection:
        return self.parser(message, now_ms)

    def write(self, client: Client, batch: Batch) -> None:
        """Insert the batch's good trades as one deduplicated block."""
        if not batch.rows:
            return
        insert_trades(client, list(zip(*batch.rows, strict=True)), batch.deduplication_token(self.name))

    def resume_positions(self, client: Client) -> Positions:
        """Where ClickHouse says each partition's ingestion got to (next offset to read)."""
        topic = self.topics[0]
        return {(topic, partition): offset + 1 for partition, offset in queries.ingested_offsets(client).items()}

    def delta(self, batch: Batch) -> contract.TradesDelta:
        """The batch's per-symbol changes and the offsets of its trades, for the dashboard
        (sent for every batch, even one of dead letters only: the dashboard checks that
        no delta went missing)."""
        symbols: dict[str, list[Any]] = {}
        for _id, ts, symbol, price, quantity, partition, offset in batch.rows:
            order = (ts, partition, offset)  # the order of "latest trade" everywhere (contract.Last)
            entry = symbols.get(symbol)
            if entry is None:
                symbols[symbol] = [1, quantity, price * quantity, order, price]
                continue
            entry[0] += 1
            entry[1] += quantity
            entry[2] += price * quantity
            if order > entry[3]:
                entry[3], entry[4] = order, price
        return {
            "type": contract.TRADES_DELTA,
            "topic": self.topics[0],
            "offsets": offset_spans(batch.rows),
            "symbols": {symbol: [n, shares, volume, [*order, price]]  # contract.Totals, contract.Last
                        for symbol, (n, shares, volume, order, price) in symbols.items()},
        }
