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
from dataclasses import dataclass, field

import orjson
from clickhouse_connect.driver.client import Client

STORED_SQL = """
    SELECT symbol, count(), sum(quantity), sum(toInt128(price * 100) * quantity)
    FROM trades GROUP BY symbol
"""
IDS_SQL = "SELECT count(), uniqExact(id), toString(groupBitXor(toUInt128(id))) FROM trades"


@dataclass
class Tally:
    trades: Counter[str] = field(default_factory=Counter)
    shares: Counter[str] = field(default_factory=Counter)
    volume_cents: Counter[str] = field(default_factory=Counter)
    count: int = 0
    id_digest: int = 0
    distinct_ids: int | None = None  # known for a stored tally only
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, trade_id: str, symbol: str, price_cents: int, quantity: int) -> None:
        with self._lock:  # producers in several threads may tally into one
            self.trades[symbol] += 1
            self.shares[symbol] += quantity
            self.volume_cents[symbol] += price_cents * quantity
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
