"""What the tests of the dashboard's socket share: the headers its origin check accepts, a
trades delta as a worker publishes one, and waiting for a frame of one kind."""

from __future__ import annotations

import json

from channels.testing import WebsocketCommunicator
from django.conf import settings

import contract

ORIGIN = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]


def trades_delta(partition: int, offset: int, prices: dict[str, int], trades: int = 1) -> contract.TradesDelta:
    """One partition's delta at `offset`: `trades` trades of 10 shares for each symbol, the last
    at its price in `prices` (cents)."""
    totals = {symbol: [trades, 10 * trades, 10 * trades * price, [1583934115727 + offset, partition, offset, price]]
              for symbol, price in prices.items()}
    return {"type": contract.TRADES_DELTA, "topic": settings.KAFKA_TOPIC,
            "offsets": {str(partition): [offset, offset]}, "consumed": {str(partition): [offset, offset]},
            "symbols": totals}


async def next_frame(client: WebsocketCommunicator, kind: str) -> dict:
    """The next frame of `kind`, past any other."""
    while True:
        frame = json.loads(await client.receive_from(timeout=30))
        if frame["type"] == kind:
            return frame
