"""Synthetic trades: "the companies are real, the trades are not".

Each symbol's price follows its own random walk from a plausible starting price,
so a rise or fall on the dashboard means something; quantities are skewed like
real ones (many small trades, few large). Everything comes from one seeded
random generator, so a seed reproduces the stream (ids, symbols, prices,
quantities; timestamps are the wall clock at production).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence

MAX_QUANTITY = 1_000_000


class TradeGenerator:
    def __init__(self, symbols: Sequence[str], seed: int | None = None):
        if not symbols:
            raise ValueError("no symbols to trade")
        self._rng = random.Random(seed)
        self.symbols = list(symbols)
        # Log-uniform starting prices from $2 to $500, in cents, fixed per symbol so that
        # a restarted producer continues near where the last one left the price.
        self._start = [int(math.exp(random.Random(symbol).uniform(math.log(200), math.log(50_000))))
                       for symbol in self.symbols]
        self.prices = list(self._start)

    def batch(self, count: int, timestamp_ms: int) -> list[tuple[str, bytes]]:
        """The next `count` trades as Kafka (key, value) pairs, all stamped `timestamp_ms`.

        One tight loop with everything local (flat-out production runs at the
        speed of this loop); the value is laid out as in `encode()`.
        """
        random = self._rng.random
        symbols, prices, starts = self.symbols, self.prices, self._start
        size = len(symbols)
        ids = _uuid4_batch(self._rng.randbytes(16 * count).hex())
        messages = []
        for trade_id in ids:
            index = int(random() * size)
            price = prices[index]
            step = round(price * 0.002 * (random() - 0.5)) or (1 if random() < 0.5 else -1)
            # Stay within a quarter and four times the starting price: a walk, not a crash.
            if not starts[index] >> 2 <= price + step <= starts[index] << 2:
                step = -step
            price = prices[index] = max(1, price + step)
            # Pareto-distributed: median about 20 shares, one trade in ~900 above 5,000.
            quantity = min(MAX_QUANTITY, int(10 * (1.0 - random()) ** -0.909))
            messages.append((trade_id, (
                f'{{"id": "{trade_id}", "timestamp": {timestamp_ms}, "symbol": "{symbols[index]}", '
                f'"price": {price}, "quantity": {quantity}}}').encode()))
        return messages


def _uuid4_batch(hex_digits: str) -> list[str]:
    """Version-4 UUID texts from 32 random hex digits each (uuid.UUID() is slower)."""
    return [
        f"{hex_digits[o:o + 8]}-{hex_digits[o + 8:o + 12]}-4{hex_digits[o + 13:o + 16]}-"
        f"{_VARIANT[hex_digits[o + 16]]}{hex_digits[o + 17:o + 20]}-{hex_digits[o + 20:o + 32]}"
        for o in range(0, len(hex_digits), 32)
    ]


# RFC 4122 variant: the first hex digit of the fourth group is 8, 9, a or b.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def encode(trade_id: str, timestamp_ms: int, symbol: str, price: int, quantity: int) -> bytes:
    """The message value, byte for byte in the seed's layout.

    Formatted directly rather than through a JSON library: every field is a
    validated UUID, integer or symbol (letters, digits, '.', '$', '^', '-'), so no
    escaping can be needed, and it is the fastest encoder there is.
    """
    return (f'{{"id": "{trade_id}", "timestamp": {timestamp_ms}, "symbol": "{symbol}", '
            f'"price": {price}, "quantity": {quantity}}}').encode()


def now_ms() -> int:
    return time.time_ns() // 1_000_000
