"""The dashboard's WebSocket: a snapshot on connect, then the workers' deltas.

Protocol (JSON text frames):
  server → client  {"type": "snapshot", "watermarks": {...}, "symbols": {...}}   once, on connect
                   {"type": "delta", "symbols": {...}}        at most 10 a second, merged
                   {"type": "trades", "symbol": S, "trades": [...]}  newest trades of a subscribed symbol
                   {"type": "status", "lag": N, "workers": N}        every 2 s, the same for all
                   {"type": "alerts", "alerts": [...]}       max-volume alerts, as published
  client → server  {"type": "subscribe", "symbols": [S, ...]}  the symbols whose drill-down is open
The server closes with 4503 when the client must reconnect and start from a
fresh snapshot (a delta went missing, see live.Continuity, or Redis went away).
Anything else from the client closes the socket with code 4400; with
DASHBOARD_LOGIN_REQUIRED on, a connection without a logged-in session gets 4401.

One `DeltaHub` per daphne process listens to the workers' deltas, merges them
every SEND_INTERVAL and encodes the merged frame once for all its clients; only a
client whose snapshot already counts part of a window (one just connected) gets
a merge of its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from clickhouse_connect.driver.exceptions import ClickHouseError
from channels.layers import get_channel_layer
from django.conf import settings
from prometheus_client import Counter, Gauge

from trademonitor import dashboard
from trademonitor.live import GAP, NEW, Continuity, DeltaFilter, merge
from workers.alerts import AlertsJob
from workers.ingest import DELTA_GROUP
from workers.sentiment import SentimentJob

logger = logging.getLogger(__name__)

# The workers' deltas: trades from ingest, whale counts from the sentiment job;
# and the alerts job's alerts, which are passed on as they come.
DELTA_GROUPS = (DELTA_GROUP, SentimentJob.delta_group, AlertsJob.delta_group)
DELTA_TYPES = ("trades.delta", "sentiment.delta")
SEND_INTERVAL = 0.1  # seconds: at most ten updates a second per client
STATUS_INTERVAL = 2.0
MAX_FRAME = 4096
MAX_SUBSCRIPTIONS = 20
BAD_REQUEST = 4400
LOGIN_REQUIRED = 4401
RESYNC = 4503  # reconnect for a fresh snapshot: a delta went missing or the feed broke


class DeltaHub:
    """The process's one subscriber to the delta group, fanning merged frames out."""

    def __init__(self):
        self.clients: set[DashboardConsumer] = set()
        self.window: list[dict] = []
        self._task: asyncio.Task | None = None
        self._listening: asyncio.Event | None = None
        self.continuity = Continuity()

    async def join(self, client: DashboardConsumer) -> None:
        """Returns once deltas are being received for `client`; raises if they cannot be."""
        self.clients.add(client)
        CLIENTS.set(len(self.clients))
        if self._task is None or self._task.done():
            self._listening = asyncio.Event()
            self._task = asyncio.create_task(self._run())
        await self._listening.wait()
        if self._task.done():
            self.leave(client)
            raise ConnectionError("the delta feed is unavailable")

    def leave(self, client: DashboardConsumer) -> None:
        self.clients.discard(client)
        CLIENTS.set(len(self.clients))

    async def _run(self) -> None:
        layer = get_channel_layer()
        self.continuity.reset()
        ticker = channel = None
        try:
            channel = await layer.new_channel()
            for group in DELTA_GROUPS:
                await layer.group_add(group, channel)
            self._listening.set()
            ticker = asyncio.gather(self._tick(), self._status())
            while self.clients:
                try:
                    message = await asyncio.wait_for(layer.receive(channel), timeout=1.0)
                except asyncio.TimeoutError:
                    continue
                await self._take(message)
        except Exception:  # noqa: BLE001 - Redis away: the clients reconnect and start from a snapshot
            logger.warning("delta feed interrupted", exc_info=True)
            await self._resync("the delta feed was interrupted")
        finally:
            self._listening.set()  # a join waiting on a feed that never started must not hang
            if ticker is not None:
                ticker.cancel()
            if channel is not None:
                for group in DELTA_GROUPS:
                    await _survive(layer.group_discard(group, channel), "unsubscribe")

    async def _take(self, message: dict) -> None:
        if message.get("topic") != settings.KAFKA_TOPIC:
            return
        kind = message.get("type")
        if kind in DELTA_TYPES:
            verdict = self.continuity.check(message)
            if verdict == GAP:
                await self._resync(f"a {kind} went missing before offsets {message.get('consumed')}")
            elif verdict == NEW:
                self.window.append(message)
        elif kind == "alerts.new":
            await self._broadcast(json.dumps({"type": "alerts", "alerts": message["alerts"]}))

    async def _resync(self, reason: str) -> None:
        """Every client reconnects and starts again from a snapshot (the page does so by itself)."""
        logger.warning("dashboards resynchronising: %s", reason)
        RESYNCS.inc()
        self.window = []
        for client in list(self.clients):
            await _survive(client.close(code=RESYNC), "resync")

    async def _broadcast(self, frame: str, snapshot_sent_only: bool = False) -> None:
        for client in list(self.clients):
            if not (snapshot_sent_only and client.filter is None):
                await _survive(client.send(text_data=frame), "broadcast")

    async def _status(self) -> None:
        """One status frame every STATUS_INTERVAL for all clients (one query, not one a client)."""
        while True:
            await asyncio.sleep(STATUS_INTERVAL)
            status = await _survive(sync_to_async(dashboard.ingestion_status)(), "status")
            if status is not None:
                # A client's first frame is its snapshot.
                await self._broadcast(json.dumps({"type": "status", **status}), snapshot_sent_only=True)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(SEND_INTERVAL)
            window, self.window = self.window, []
            if not window:
                continue
            update = merge(window)
            if update is None:
                continue
            shared = (update, json.dumps(update))
            for client in list(self.clients):
                await _survive(client.deliver(window, shared), "delta")


HUB = DeltaHub()
CLIENTS = Gauge("trademonitor_websocket_clients", "Dashboard WebSocket clients connected to this process")
RESYNCS = Counter("trademonitor_dashboard_resyncs_total", "Times this process sent every client back to a snapshot")


class DashboardConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if settings.DASHBOARD_LOGIN_REQUIRED and not (user and user.is_authenticated):
            await self.close(code=LOGIN_REQUIRED)
            return
        self.subscribed: set[str] = set()
        self.filter: DeltaFilter | None = None
        self.backlog: list[dict] = []  # deltas that arrive while the snapshot is read
        await self.accept()
        # Listen first, then read the snapshot: a delta published in between is
        # received, and the watermarks decide whether the snapshot counted it.
        try:
            await HUB.join(self)
        except ConnectionError:
            await self.close(code=RESYNC)  # Redis is away: the page retries with backoff
            return
        try:
            text, watermarks = await sync_to_async(dashboard.snapshot_frame)(time.monotonic())
        except ClickHouseError:
            logger.warning("no snapshot for a new client: ClickHouse failed", exc_info=True)
            await self.close(code=RESYNC)  # the page retries with backoff
            return
        await self.send(text_data=text)
        self.filter = DeltaFilter(settings.KAFKA_TOPIC, watermarks)
        backlog, self.backlog = self.backlog, []
        if backlog:
            await self.deliver(backlog)

    async def disconnect(self, code):
        HUB.leave(self)

    async def receive(self, text_data=None, bytes_data=None):
        request = _parse_request(text_data, bytes_data)
        if request is None:
            await self.close(code=BAD_REQUEST)
            return
        self.subscribed = set(request["symbols"])

    async def deliver(self, window: list[dict], shared: tuple[dict, str] | None = None) -> None:
        """One window of deltas: the hub's shared (update, frame), unless this client's
        snapshot already counted part of the window (or there is none) and it needs its own."""
        if self.filter is None:
            self.backlog.extend(window)
            return
        new = [delta for delta in window if self.filter.is_new(delta)]
        if shared is None or len(new) < len(window):
            update = merge(new)
            if update is None:
                return
            shared = (update, json.dumps(update))
        update, frame = shared
        await self.send(text_data=frame)
        for symbol in self.subscribed.intersection(update["symbols"]):
            trades = await sync_to_async(dashboard.newest_trades)(symbol)
            await self.send(text_data=json.dumps({"type": "trades", "symbol": symbol, "trades": trades}))


async def _survive(step, what: str):
    """A failed step (ClickHouse, the database or a client away) skips one update, not the feed;
    returns the step's result, or None when it failed."""
    try:
        return await step
    except Exception:  # noqa: BLE001
        logger.warning("dashboard %s failed; will try again", what, exc_info=True)
        return None


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
