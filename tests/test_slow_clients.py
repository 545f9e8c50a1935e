"""A dashboard client's unread frames are bounded: one that stops acknowledging is closed
with the resync code once DASHBOARD_UNREAD_BYTES is passed, while one beside it that
acknowledges gets every delta (trademonitor/live.py, Unread). And clients cost Redis nothing
of their own: the process's hub receives for all of them."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings

import contract
from tests.livefeed import ORIGIN, trades_delta
from trademonitor.live import Unread

SYMBOLS = [f"ZZ{i:03d}" for i in range(60)]  # not listed: each delta frame is a few KB


def test_unread_counts_bytes_until_acknowledged():
    unread = Unread(limit=100)
    assert unread.sent(40) and unread.sent(40)
    assert not unread.sent(30)  # 110 > 100: refused, and not counted
    assert (unread.frames, unread.bytes) == (2, 80)
    assert unread.acknowledge(1) and unread.bytes == 40
    assert unread.sent(60) and unread.bytes == 100
    assert unread.acknowledge(0) and unread.bytes == 100  # a late, older count changes nothing
    assert not unread.acknowledge(4)  # more frames than were sent
    assert unread.acknowledge(3) and unread.bytes == 0


def _delta(partition: int, offset: int) -> contract.TradesDelta:
    return trades_delta(partition, offset, dict.fromkeys(SYMBOLS, 100))


async def _frames_until(client: WebsocketCommunicator, kind: str) -> tuple[dict, int]:
    """The next frame of `kind`, and how many frames came before it and it."""
    count = 0
    while True:
        count += 1
        frame = json.loads(await client.receive_from(timeout=30))
        if frame["type"] == kind:
            return frame, count


async def _closed(client: WebsocketCommunicator, timeout: float = 10.0) -> int | None:
    """The code the server closed `client` with, passing over the frames before it; None
    if it was still open after `timeout` seconds (status frames keep coming meanwhile)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            output = await asyncio.wait_for(client.output_queue.get(), timeout=left)
        except TimeoutError:
            break
        if output["type"] == "websocket.close":
            return output.get("code")
    return None


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
async def test_a_client_that_stops_acknowledging_is_closed_and_one_that_reads_gets_everything(settings):
    from trademonitor.asgi import application

    reader = WebsocketCommunicator(application, "/ws/live", headers=ORIGIN)
    idle = WebsocketCommunicator(application, "/ws/live", headers=ORIGIN)
    try:
        assert (await reader.connect(timeout=30))[0]
        snapshot, received = await _frames_until(reader, contract.SNAPSHOT)
        # Room for the snapshot and a few deltas, not for the run's forty.
        settings.DASHBOARD_UNREAD_BYTES = len(json.dumps(snapshot)) + 20_000
        assert (await idle.connect(timeout=30))[0]
        await _frames_until(idle, contract.SNAPSHOT)  # read here, never acknowledged to the server

        partition = 0
        offset = max(snapshot["watermarks"].values(), default=0) + 1_000_000  # past anything stored
        layer = get_channel_layer()
        trades = 0
        for step in range(40):
            await layer.group_send(contract.TRADES_GROUP, _delta(partition, offset + step))
            frame, count = await _frames_until(reader, contract.DELTA)
            received += count
            trades += frame["trades"]
            await reader.send_to(text_data=contract.ack(received))

        assert trades == 40 * len(SYMBOLS)
        assert await _closed(idle) == contract.RESYNC
        await layer.group_send(contract.TRADES_GROUP, _delta(partition, offset + 40))
        frame, _count = await _frames_until(reader, contract.DELTA)  # the reader is still served
        assert frame["trades"] == len(SYMBOLS)
    finally:
        await reader.disconnect()
        await idle.disconnect()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
async def test_an_acknowledgement_of_more_than_was_sent_closes_as_a_bad_request():
    from trademonitor.asgi import application

    client = WebsocketCommunicator(application, "/ws/live", headers=ORIGIN)
    try:
        assert (await client.connect(timeout=30))[0]
        await _frames_until(client, contract.SNAPSHOT)
        await client.send_to(text_data=contract.ack(1_000))
        assert await _closed(client) == contract.BAD_REQUEST
    finally:
        await client.disconnect()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
async def test_clients_add_no_redis_subscription_of_their_own():
    """The hub subscribes once for the process; each client gets its deltas from the hub,
    so connecting more clients subscribes nothing more in Redis."""
    import redis.asyncio as redis

    from trademonitor.asgi import application

    server = redis.Redis.from_url(django_settings.REDIS_URL)
    clients = [WebsocketCommunicator(application, "/ws/live", headers=ORIGIN) for _ in range(4)]
    try:
        assert (await clients[0].connect(timeout=30))[0]
        await _frames_until(clients[0], contract.SNAPSHOT)
        subscribed = len(await server.pubsub_channels())
        for client in clients[1:]:
            assert (await client.connect(timeout=30))[0]
            await _frames_until(client, contract.SNAPSHOT)
        assert subscribed >= len(contract.DELTA_GROUPS)  # the hub's, or this test would prove nothing
        # At most as many: another test's web process may be unsubscribing meanwhile.
        assert len(await server.pubsub_channels()) <= subscribed
    finally:
        for client in clients:
            await client.disconnect()
        await server.aclose()
