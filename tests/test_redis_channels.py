"""Redis behind the Channels layer: a group_send in one process reaches a consumer in another."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from channels.layers import get_channel_layer

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
