"""Truth from outside the pipeline: what a producer sent, tallied as it sent it, and the
same figures read back from what ClickHouse stored, compared field by field.

The figures: how many trades, a digest of their ids (the XOR of the ids as 128-bit
integers; ClickHouse computes the same with groupBitXor(toUInt128(id))), and per symbol
the trades, shares and volume in integer cents. Stored duplicates are caught by the
count against uniqExact(id), since a pair of equal ids cancels out of the digest.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson
from clickhouse_connect.driver.client import Client
from django.conf import settings

COUNT_SQL = "SELECT count() FROM trades"
STORED_SQL = """
    SELECT symbol, count(), sum(quantity), sum(toInt128(price * 100) * quantity)
    FROM trades GROUP BY symbol
"""
IDS_SQL = "SELECT count(), uniqExact(id), toString(groupBitXor(toUInt128(id))) FROM trades"
# What the materialized views kept, per symbol, to compare with the same figures.
CANDLES_SQL = """
    SELECT symbol, sum(trades), sum(shares), sum(toInt128(volume * 100))
    FROM candles_1m GROUP BY symbol
"""
SENTIMENT_SQL = "SELECT symbol, sum(whales), sum(whales + minnows) FROM symbol_sentiment GROUP BY symbol"


@dataclass
class Tally:
    trades: Counter[str] = field(default_factory=Counter)
    shares: Counter[str] = field(default_factory=Counter)
    volume_cents: Counter[str] = field(default_factory=Counter)
    whales: Counter[str] = field(default_factory=Counter)  # trades above the sentiment threshold
    count: int = 0
    id_digest: int = 0
    distinct_ids: int | None = None  # known for a stored tally only
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, trade_id: str, symbol: str, price_cents: int, quantity: int) -> None:
        with self._lock:  # producers in several threads may tally into one
            self.trades[symbol] += 1
            self.shares[symbol] += quantity
            self.volume_cents[symbol] += price_cents * quantity
            self.whales[symbol] += quantity > settings.SENTIMENT_WHALE_QUANTITY
            self.count += 1
            self.id_digest ^= int(trade_id.replace("-", ""), 16)

    def add_message(self, value: bytes) -> None:
        """A trade as it goes onto the topic (JSON, price in cents)."""
        trade = orjson.loads(value)
        self.add(trade["id"], trade["symbol"], trade["price"], trade["quantity"])

    @classmethod
    def stored(cls, client: Client) -> Tally:
        """The same figures, from the `trades` table itself (not the materialized views)."""
        tally = cls()
        for symbol, trades, shares, volume_cents in client.query(STORED_SQL).result_rows:
            tally.trades[symbol], tally.shares[symbol], tally.volume_cents[symbol] = trades, shares, int(volume_cents)
        count, distinct, digest = client.query(IDS_SQL).result_rows[0]
        tally.count, tally.distinct_ids, tally.id_digest = count, distinct, int(digest)
        return tally

    def view_differences(self, client: Client, sentiment: bool = True) -> list[str]:
        """How the views' tables differ from this tally: per symbol, the candles' trades,
        shares and volume, and (`sentiment`) the sentiment job's whales and trades."""
        found = []
        candles = {symbol: (n, shares, int(volume)) for symbol, n, shares, volume
                   in client.query(CANDLES_SQL).result_rows}
        sent = {symbol: (n, self.shares[symbol], self.volume_cents[symbol]) for symbol, n in self.trades.items()}
        found += _compare("candles_1m", sent, candles)
        if sentiment:
            kept = {symbol: (whales, n) for symbol, whales, n in client.query(SENTIMENT_SQL).result_rows}
            found += _compare("symbol_sentiment", {s: (self.whales[s], n) for s, n in self.trades.items()}, kept)
        return found

    def differences(self, stored: Tally) -> list[str]:
        """How `stored` differs from this tally of what was sent ([] when exact)."""
        found = []
        if stored.count != self.count:
            found.append(f"{stored.count:,} trades stored, {self.count:,} sent")
        if stored.distinct_ids is not None and stored.distinct_ids != stored.count:
            found.append(f"{stored.count - stored.distinct_ids:,} duplicate ids stored")
        if stored.id_digest != self.id_digest:
            found.append("the stored ids are not the ids sent")
        for name in ("trades", "shares", "volume_cents"):
            sent, kept = getattr(self, name), getattr(stored, name)
            wrong = sorted(symbol for symbol in sent.keys() | kept.keys() if sent[symbol] != kept[symbol])
            if wrong:
                found.append(f"{name} differ for {len(wrong)} symbols, e.g. {wrong[0]}: "
                             f"sent {sent[wrong[0]]}, stored {kept[wrong[0]]}")
        return found


def _compare(table: str, sent: Mapping[str, tuple[int, ...]], kept: Mapping[str, tuple[int, ...]]) -> list[str]:
    wrong = sorted(symbol for symbol in sent.keys() | kept.keys() if sent.get(symbol) != kept.get(symbol))
    if not wrong:
        return []
    return [f"{table} differs for {len(wrong)} symbols, e.g. {wrong[0]}: sent {sent.get(wrong[0])}, "
            f"kept {kept.get(wrong[0])}"]


def stored_count(client: Client) -> int:
    """How many trades `trades` holds now."""
    count: int = client.query(COUNT_SQL).result_rows[0][0]
    return count


def produce(topic: str, count: int, seed: int = 1) -> Tally:
    """`count` trades of the bundled symbols onto `topic` as fast as Kafka takes them;
    what was sent, tallied as it was sent."""
    from harness.progress import progress
    from producer.publisher import TradePublisher
    from producer.trades import TradeGenerator
    from trademonitor.symbols import bundled_universe

    sent = Tally()
    with progress(count, "producing", "trades") as bar:
        report = TradePublisher(topic, TradeGenerator(bundled_universe(), seed=seed), rate=0,
                                on_trade=sent.add_message).run(count, on_progress=bar.update)
    if report.failed:
        raise RuntimeError(f"{report.failed} trades not delivered")
    return sent
