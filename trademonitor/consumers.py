"""The dashboard's WebSocket: a snapshot on connect, then the workers' deltas.

Protocol (JSON text frames):
  server → client  {"type": "snapshot", "watermarks": {...}, "symbols": {...}}   once, on connect
                   {"type": "delta", "symbols": {...}}        at most 10 a second, merged
                   {"type": "trades", "symbol": S, "trades": [...]}  newest trades of a subscribed symbol
                   {"type": "status", "lag": N, "workers": N}        every 2 s
  client → server  {"type": "subscribe", "symbols": [S, ...]}  the symbols whose drill-down is open
Anything else from the client closes the socket with code 4400.
"""

from __future__ import annotations

import asyncio
import json
import logging

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from trademonitor import dashboard
from trademonitor.live import Coalescer, DeltaFilter
from workers.ingest import DELTA_GROUP

logger = logging.getLogger(__name__)

SEND_INTERVAL = 0.1  # seconds: at most ten updates a second per client
STATUS_INTERVAL = 2.0
MAX_FRAME = 4096
MAX_SUBSCRIPTIONS = 20
BAD_REQUEST = 4400


class DashboardConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.coalescer = Coalescer()
        self.subscribed: set[str] = set()
        self.filter: DeltaFilter | None = None
        self.tasks: list[asyncio.Task] = []
        await self.accept()
        # Join first, then read the snapshot: a delta published in between arrives
        # afterwards and the watermarks decide whether the snapshot counted it.
        await self.channel_layer.group_add(DELTA_GROUP, self.channel_name)
        message = await sync_to_async(dashboard.snapshot_message)()
        watermarks = {int(partition): offset for partition, offset in message["watermarks"].items()}
        self.filter = DeltaFilter(settings.KAFKA_TOPIC, watermarks)
        await self.send(text_data=json.dumps(message))
        self.tasks = [asyncio.create_task(self._send_deltas()), asyncio.create_task(self._send_status())]

    async def disconnect(self, code):
        for task in getattr(self, "tasks", []):
            task.cancel()
        await self.channel_layer.group_discard(DELTA_GROUP, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        request = _parse_request(text_data, bytes_data)
        if request is None:
            await self.close(code=BAD_REQUEST)
            return
        self.subscribed = set(request["symbols"])

    async def trades_delta(self, event: dict) -> None:
        """A worker's flush (group message type "trades.delta")."""
        if self.filter is not None and self.filter.is_new(event):
            self.coalescer.add(event)

    async def _send_deltas(self) -> None:
        while True:
            await asyncio.sleep(SEND_INTERVAL)
            symbols = self.coalescer.take()
            if symbols is None:
                continue
            await self.send(text_data=json.dumps({"type": "delta", "symbols": symbols}))
            for symbol in self.subscribed.intersection(symbols):
                await _survive(self._send_trades(symbol), "newest trades")

    async def _send_trades(self, symbol: str) -> None:
        trades = await sync_to_async(dashboard.newest_trades)(symbol)
        await self.send(text_data=json.dumps({"type": "trades", "symbol": symbol, "trades": trades}))

    async def _send_status(self) -> None:
        while True:
            await _survive(self._send_status_once(), "status")
            await asyncio.sleep(STATUS_INTERVAL)

    async def _send_status_once(self) -> None:
        status = await sync_to_async(dashboard.ingestion_status)()
        await self.send(text_data=json.dumps({"type": "status", **status}))


async def _survive(step, what: str) -> None:
    """A failed read (ClickHouse or the database away) skips one update, not the feed."""
    try:
        await step
    except Exception:  # noqa: BLE001
        logger.warning("dashboard %s failed; will try again", what, exc_info=True)


def _parse_request(text_data: str | None, bytes_data: bytes | None) -> dict | None:
    """The client's one kind of message, or None for anything malformed."""
    if text_data is None or len(text_data) > MAX_FRAME:
        return None
    try:
        request = json.loads(text_data)
    except ValueError:
        return None
    if not isinstance(request, dict) or request.get("type") != "subscribe":
        return None
    symbols = request.get("symbols")
    if not isinstance(symbols, list) or len(symbols) > MAX_SUBSCRIPTIONS:
        return None
    if not all(isinstance(symbol, str) and 0 < len(symbol) <= 16 for symbol in symbols):
        return None
    return request
