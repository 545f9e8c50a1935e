"""Receiving from a Channels layer channel with a timeout, without losing a message.

channels_redis drops a message when a receive() is cancelled just as the message
arrives (its cancellation path discards the channel's buffer and a finished get), and
`asyncio.wait_for(layer.receive(...), timeout)` cancels the receive at every timeout.
A dashboard would see a missing delta and resynchronise every client for nothing. Here
the receive that timed out stays pending and is awaited again next time.
"""

from __future__ import annotations

import asyncio
from typing import Any


class Receiver:
    def __init__(self, layer: Any, channel: str):
        self.layer, self.channel = layer, channel
        self._pending: asyncio.Future[dict[str, Any]] | None = None

    async def receive(self, timeout: float) -> dict[str, Any] | None:
        """The next message, or None if none came within `timeout` seconds."""
        if self._pending is None:
            self._pending = asyncio.ensure_future(self.layer.receive(self.channel))
        done, _ = await asyncio.wait({self._pending}, timeout=timeout)
        if not done:
            return None
        received, self._pending = self._pending, None
        message: dict[str, Any] = received.result()
        return message

    def close(self) -> None:
        """Stop listening (a message arriving now is lost with the channel anyway)."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
