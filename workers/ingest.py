"""The ingest job: trades from Kafka into ClickHouse, and their deltas to the dashboard.

Exactly-once effect
-------------------
Every trade on the topic ends up in `trades` and in every table its materialized
views feed (`symbol_totals`, `candles_1m`) exactly once. A flush runs in this order
(workers/consumer.py, Worker.flush):

1. Dead letters are sent and acknowledged by Kafka (see below).
2. The insert-intent ledger (clickhouse/ledger.py) records each partition's range
   of the flush that has rows to insert, `[first, last]`, as PENDING, in the same
   write as DONE for the previous flush's ranges of other partitions (below). A range
   of dead letters only inserts nothing, so there is nothing to replay: its commit
   alone says it is finished, and no write is made for it.
3. Each partition's good rows are inserted on their own: one insert, one block,
   deduplication token `topic-partition-first-last`. The settings that decide how
   an insert is cut into blocks are pinned (clickhouse/writer.py), because ClickHouse
   deduplicates a retry only when it is cut the same way. Errors, timeouts and
   UNKNOWN_STATUS_OF_INSERT are retried with the identical insert, on a cluster
   against any replica of the partition's shard.
4. Each partition's delta goes to the dashboards as soon as its insert returned;
   after the last, Kafka's offsets are committed.
5. The ranges are recorded DONE with the worker's next ledger write: the next flush's
   (a partition's new PENDING range replaces its old one), or after a quiet second,
   a revocation or the drain, always while the worker still owns the partitions.
   That keeps one ledger write on each flush's path instead of two; a range that is
   PENDING with Kafka's committed offset past its end is finished (step 4 comes only
   after step 3).

On assignment a worker reads the ledger and Kafka's committed offsets:

- DONE `[first, last]`, or PENDING with the committed offset past `last`: the
  partition resumes at the later of `last + 1` and the committed offset.
- PENDING `[first, last]` and nothing committed past it: the insert may have written
  all of it, none, or part: ClickHouse writes `trades` and then each view's target,
  one after the other, and makes none of them atomic. So the range is replayed
  *exactly*: the worker seeks to `first` and flushes at `last`, whatever its batch
  limits say, which rebuilds the same rows under the same token. With deduplication
  in dependent views (`deduplicate_blocks_in_dependent_materialized_views = 1`,
  ClickHouse 24.7 and later), each table drops the block it already has and takes the
  one it missed. Not so a non-replicated table whose engine was killed between the
  block's deduplication record and its part: it drops the retry, never having stored
  the block (README, "A ClickHouse process killed mid-insert").
  Resuming *past* the range, the rule this replaced
  (`max(symbol_totals.max_offset) + 1`), lost the candles of a write that stopped
  after the totals; resuming *inside* it under new batch boundaries, with a new
  token, stored trades twice.
- No entry: Kafka's committed offset.

A worker never flushes part of a range it is replaying (a part would carry another
token): revoked or stopped meanwhile, it drops the batch, and the next owner
replays the range. `max(max_offset)` in `symbol_totals` remains what the dashboard's
snapshot watermarks and `manage.py verify` report, never where a worker resumes.

On a cluster every partition's rows live on exactly one shard (partition modulo
the shard count, clickhouse/shards.py), and the views run on that shard, so a
partition's totals and its watermark come from one shard's tables: a snapshot's
watermarks stay exact, as on one node. Quorum inserts (`insert_quorum = 'auto'`,
in parallel) make an acknowledged range survive the loss of a replica; the ledger
lives in Keeper (KeeperMap), which every node reads consistently.

Dead letters are at least once: they are sent (and acknowledged) before the
ledger and the insert, so whoever resumes after a crash has either seen them sent
or reads them again; each carries its source partition and offset, which identify
duplicates.
"""

from __future__ import annotations

from typing import Any

from clickhouse_connect.driver.client import Client
from confluent_kafka import Message

import contract
from clickhouse.writer import insert_trades
from workers.batch import Batch, Span
from workers.jobs import ConsumerJob
from workers.trades import TradeParser, TradeRow, offset_spans
from workers.validation import Rejection, TradeRules


class IngestJob(ConsumerJob[TradeRow]):
    name = "ingest"
    delta_group = contract.TRADES_GROUP
    dead_letters = True  # the one job that records the topic's bad messages

    def __init__(self, topic: str, rules: TradeRules | None = None):
        super().__init__(topic)
        self.parser = TradeParser(rules)

    def parse(self, message: Message, now_ms: int) -> TradeRow | Rejection:
        return self.parser(message, now_ms)

    def write(self, client: Client, span: Span[TradeRow]) -> None:
        """Insert one partition's trades of a flush as one deduplicated block."""
        insert_trades(client, list(zip(*span.rows, strict=True)), span.deduplication_token)

    def delta(self, batch: Batch[TradeRow]) -> contract.TradesDelta:
        """The batch's per-symbol changes and the offsets of its trades, for the dashboard
        (sent for every batch, even one of dead letters only: the dashboard checks that
        no delta went missing)."""
        symbols: dict[str, list[Any]] = {}
        rows = batch.rows
        for _id, ts, symbol, price, quantity, partition, offset in rows:
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
        delta: contract.TradesDelta = {
            "type": contract.TRADES_DELTA,
            "topic": self.topics[0],
            "offsets": offset_spans(rows),
            "symbols": {symbol: [n, shares, volume, [*order, price]]  # contract.Totals, contract.Last
                        for symbol, (n, shares, volume, order, price) in symbols.items()},
        }
        if len(rows) <= NEWEST_MAX_TRADES:
            delta["newest"] = newest_trades(rows)
        return delta


# A delta carries its symbols' newest trades (the dashboards' drill-downs keep theirs from
# them) only up to this many trades. A caught-up worker flushes a few hundred at a time,
# and one catching up after an insert that stalled for a second or two stays under it (its
# symbols' pages stay kept); a backlog's full batches would put most of the stream through
# Redis twice.
NEWEST_MAX_TRADES = 10_000


def newest_trades(rows: list[TradeRow]) -> dict[str, bytes]:
    """Each symbol's newest trades among `rows`, as contract.TRADE_RECORDs, newest first."""
    by_symbol: dict[str, list[bytes]] = {}
    for trade_id, ts, symbol, price, quantity, partition, offset in rows:
        by_symbol.setdefault(symbol, []).append(contract.trade_record(trade_id, ts, price, quantity, partition, offset))
    return {symbol: b"".join(sorted(records, reverse=True)[:contract.FIRST_PAGE])
            for symbol, records in by_symbol.items()}
