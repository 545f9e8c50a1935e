"""The hub's feed runs on for a while after its last client leaves (hub.FEED_LINGER):
a page reloaded meanwhile starts from the same live copy, with the price moves it heard."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

import contract
from tests.livefeed import ORIGIN, next_frame, trades_delta

SYMBOL = "ZZRELOAD"  # not listed


def _delta(offset: int, price: int) -> contract.TradesDelta:
    return trades_delta(0, offset, {SYMBOL: price})


async def _until(condition) -> None:
    async with asyncio.timeout(30):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
async def test_a_page_reloaded_after_its_last_client_left_keeps_the_copy_and_its_price_moves():
    from trademonitor.asgi import application
    from trademonitor.hub import HUB

    layer = get_channel_layer()
    first = WebsocketCommunicator(application, "/ws/live", headers=ORIGIN)
    assert (await first.connect(timeout=30))[0]
    snapshot = await next_frame(first, contract.SNAPSHOT)
    offset = max(map(int, snapshot["watermarks"].values()), default=0) + 1_000_000  # past anything stored
    for step, price in enumerate([1_000, 990]):
        await layer.group_send(contract.TRADES_GROUP, _delta(offset + step, price))
        await next_frame(first, contract.DELTA)
    await first.disconnect()
    await _until(lambda: not HUB.clients)

    # Heard with no client connected; without the linger the feed would end on it.
    await layer.group_send(contract.TRADES_GROUP, _delta(offset + 2, 990))
    await _until(lambda: HUB.copy is not None
                 and HUB.copy.filter.watermarks[contract.TRADES_DELTA].get(0, -1) >= offset + 2)

    second = WebsocketCommunicator(application, "/ws/live", headers=ORIGIN)
    try:
        assert (await second.connect(timeout=30))[0]
        row = (await next_frame(second, contract.SNAPSHOT))["symbols"][SYMBOL]
        assert row[contract.Row.TRADES] == 3
        assert row[contract.Row.CHANGE] == -10  # 1,000 to 990, then 990 again: the move stands
        await layer.group_send(contract.TRADES_GROUP, _delta(offset + 3, 995))
        frame = await next_frame(second, contract.DELTA)  # and the feed goes on for it
        assert frame["symbols"][SYMBOL][contract.Totals.TRADES] == 1
    finally:
        await second.disconnect()
