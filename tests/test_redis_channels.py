"""Redis behind the Channels layer: a group_send in one process reaches a consumer in another."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import pytest
from channels.layers import get_channel_layer

import contract
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.services

SENDER = """
import asyncio, sys, django
django.setup()
from channels.layers import get_channel_layer
asyncio.run(get_channel_layer().group_send(sys.argv[1], {"type": "trade.delta", "n": int(sys.argv[2])}))
"""


async def test_group_send_from_another_process_is_received(services):
    layer = get_channel_layer()
    group = f"test-{uuid.uuid4().hex[:8]}"
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    try:
        subprocess.run(
            [sys.executable, "-c", SENDER, group, "42"],
            cwd=PROJECT_DIR, check=True, timeout=60,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "trademonitor.settings"},
        )
        message = await layer.receive(channel)
    finally:
        await layer.group_discard(group, channel)
    assert message == {"type": "trade.delta", "n": 42}


def test_a_workers_deltas_arrive_in_the_order_it_published_them(services):
    """The dashboard reads a delta that overtook the one before it as a lost delta."""
    import threading
    import time

    from workers.deltas import MAX_PENDING, DeltaPublisher

    group = f"test-{uuid.uuid4().hex[:8]}"
    rounds, burst = 100, MAX_PENDING // 5  # 200 a second, five times a busy worker's rate
    received: list[int] = []
    listening = threading.Event()

    async def listen() -> None:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        listening.set()
        try:
            while len(received) < rounds * burst:
                received.append((await asyncio.wait_for(layer.receive(channel), timeout=30))["n"])
        finally:
            await layer.group_discard(group, channel)

    listener = threading.Thread(target=lambda: asyncio.run(listen()))
    listener.start()
    assert listening.wait(30)
    publisher = DeltaPublisher(group)
    for round_ in range(rounds):
        for n in range(round_ * burst, (round_ + 1) * burst):
            publisher.publish({"type": contract.TRADES_DELTA, "n": n})  # type: ignore[typeddict-unknown-key]
        time.sleep(0.05)
    publisher.close(timeout=30)
    listener.join(60)
    assert publisher.dropped == 0
    assert received == list(range(rounds * burst))


async def test_a_receive_that_keeps_timing_out_loses_no_message(services):
    """infra.layer.Receiver: timeouts far shorter than the gaps between messages, so most
    messages arrive while a timed-out receive is pending (wait_for would cancel it)."""
    from infra.layer import Receiver

    layer = get_channel_layer()
    group = f"test-{uuid.uuid4().hex[:8]}"
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    count = 300

    async def send() -> None:
        sender = get_channel_layer()
        for n in range(count):
            await sender.group_send(group, {"type": "test.message", "n": n})
            await asyncio.sleep(0.002)

    receiver = Receiver(layer, channel)
    received: list[int] = []
    sending = asyncio.create_task(send())
    timeouts = 0
    try:
        while len(received) < count:
            message = await receiver.receive(timeout=0.001)
            if message is None:
                timeouts += 1
                assert timeouts < 100_000, f"received {len(received)} of {count}"
            else:
                received.append(message["n"])
    finally:
        receiver.close()
        await sending
        await layer.group_discard(group, channel)
    assert received == list(range(count))
    assert timeouts > count  # the receive timed out between messages, again and again


async def test_another_system_on_the_same_redis_is_not_heard(services, settings):
    """The demo beside the suite publishes to the same group names with the default prefix
    (`CHANNEL_LAYER_PREFIX`): a test run's layer hears only its own run."""
    from channels_redis.pubsub import RedisPubSubChannelLayer

    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    assert config["prefix"] != "asgi"
    other_system = RedisPubSubChannelLayer(hosts=config["hosts"])  # the default prefix
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(contract.TRADES_GROUP, channel)
    try:
        # Redis hands a subscriber messages in the order it took the publishes: had the
        # other system's reached this channel, it would come first.
        await other_system.group_send(contract.TRADES_GROUP, {"type": "test.message", "system": "other"})
        await layer.group_send(contract.TRADES_GROUP, {"type": "test.message", "system": "this run"})
        message = await layer.receive(channel)
    finally:
        await layer.group_discard(contract.TRADES_GROUP, channel)
        await other_system.flush()
    assert message == {"type": "test.message", "system": "this run"}
