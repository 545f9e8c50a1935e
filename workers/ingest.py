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
its source partition and offset, which identify duplicates. (Sent after the insert,
a crash in between lost them: the next worker resumed past them. The fault suite
found that.)

The one gap left is ClickHouse's own: it writes a block and the blocks of its
materialized views one after the other, so a server killed between the two
leaves them apart. `totals_check()` finds that.
"""

from __future__ import annotations

import logging
import time
from operator import itemgetter

from clickhouse_connect.driver.client import Client
from confluent_kafka import Message

from clickhouse import queries
from clickhouse.writer import insert_trades
from trademonitor.models import Symbol
from workers.batch import Batch
from workers.validation import Rejection, TradeRules, parse

logger = logging.getLogger(__name__)

DELTA_GROUP = "trades.deltas"
SYMBOL_REFRESH_SECONDS = 60
LOG_EVERY = 100_000
_PARTITION_AND_OFFSET = itemgetter(5, 6)


class IngestJob:
    name = "ingest"

    def __init__(self, topic: str, rules: TradeRules | None = None):
        self.topics = [topic]
        self._rules = rules
        # Rules given here are fixed; otherwise the known symbols are re-read now and then.
        self._fixed_rules = rules is not None
        self._rules_loaded = 0.0
        self._parsed = 0

    # -- per message ---------------------------------------------------------------
    def parse(self, message: Message, now_ms: int) -> tuple | Rejection:
        outcome = parse(message.key(), message.value(), self.rules(), now_ms)
        if isinstance(outcome, Rejection):
            return outcome
        self._parsed += 1
        if self._parsed == 1 or self._parsed % LOG_EVERY == 0:
            logger.info("trade %d: %s", self._parsed, outcome)
        return (*outcome, message.partition(), message.offset())

    def rules(self) -> TradeRules:
        """The known symbols, re-read now and then so new listings are accepted."""
        if not self._fixed_rules and (
            self._rules is None or time.monotonic() - self._rules_loaded > SYMBOL_REFRESH_SECONDS
        ):
            symbols = frozenset(Symbol.objects.values_list("symbol", flat=True))
            self._rules = TradeRules(symbols=symbols)
            self._rules_loaded = time.monotonic()
        return self._rules

    # -- per flush -------------------------------------------------------------------
    def write(self, client: Client, batch: Batch) -> None:
        """Insert the batch's good trades as one deduplicated block."""
        if not batch.rows:
            return
        insert_trades(client, list(zip(*batch.rows)), batch.deduplication_token(self.name))

    def resume_positions(self, client: Client) -> dict[tuple[str, int], int]:
        """Where ClickHouse says each partition's ingestion got to (next offset to read)."""
        topic = self.topics[0]
        return {(topic, partition): offset + 1 for partition, offset in queries.ingested_offsets(client).items()}

    def delta(self, batch: Batch) -> dict:
        """The batch's per-symbol changes and the offsets of its trades, for the dashboard
        (sent for every batch, even one of dead letters only: the dashboard checks that
        no delta went missing)."""
        symbols: dict[str, list] = {}
        for _id, ts, symbol, price, quantity, partition, offset in batch.rows:
            order = (ts, partition, offset)  # the order of "latest trade" everywhere
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
            "type": "trades.delta",
            "topic": self.topics[0],
            "offsets": offset_spans(batch.rows),
            # symbol: [trades, shares, volume in cents, last trade (ts ms, partition, offset, price cents)]
            "symbols": {symbol: [n, shares, volume, [*order, price]]
                        for symbol, (n, shares, volume, order, price) in symbols.items()},
        }


def offset_spans(rows: list[tuple]) -> dict[str, list[int]]:
    """Per partition, [first, last] offset of a batch's trades (rows ending with partition
    and offset, as IngestJob.parse makes them). A batch holds each partition's messages
    in the order they were consumed, offsets rising, so the dicts keep the ends."""
    positions = list(map(_PARTITION_AND_OFFSET, rows))
    firsts, lasts = dict(reversed(positions)), dict(positions)
    return {str(partition): [firsts[partition], last] for partition, last in lasts.items()}
