"""The dashboard's WebSocket: a snapshot on connect, then the workers' deltas.

Protocol (JSON text frames; their shapes are contract.py's):
  server → client  snapshot   once, on connect
                   delta      at most 10 a second, merged
                   trades     the newest trades of a subscribed symbol, after a delta that touched it
                   status     every second, the same for all: ingestion lag, running workers, trades a second
                   moves      price moves the hub worked out for rows its snapshot sent without one
                   page       a drill-down's first page, for each symbol a subscribe adds
                   alerts     max-volume alerts, as published
  client → server  subscribe  the symbols whose drill-down is open
                   ack        frames received so far, about twice a second
The server closes with 4503 when the client must reconnect and start from a
fresh snapshot: a delta went missing (see live.Continuity), Redis went away, or
the client has more than DASHBOARD_UNREAD_BYTES sent and not acknowledged
(live.Unread; a client that never reads gets there too).
Anything else from the client closes the socket with code 4400; with
DASHBOARD_LOGIN_REQUIRED on, a connection without a logged-in session gets 4401.

One hub a process (hub.py) receives the deltas for every client.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from clickhouse_connect.driver.exceptions import ClickHouseError
from django.conf import settings
from prometheus_client import Counter

import contract
from contract import BAD_REQUEST, LOGIN_REQUIRED, RESYNC
from trademonitor import pages
from trademonitor.hub import HUB
from trademonitor.live import Allowance, DeltaFilter, Unread, merge

logger = logging.getLogger(__name__)

MAX_FRAME = 4096
BEHIND = Counter("trademonitor_websocket_clients_behind_total", "Dashboard clients closed for having more than "
                 "DASHBOARD_UNREAD_BYTES sent and unacknowledged")


class DashboardConsumer(AsyncWebsocketConsumer):
    # No channel of its own (get_channel_layer gives None for an alias not configured): the
    # hub receives every delta once for all the process's clients and hands it to each, and a
    # channel would cost every connection a Redis subscription that nothing sends to.
    channel_layer_alias = "none: the hub receives for every client"

    async def connect(self) -> None:
        user = self.scope.get("user")
        if settings.DASHBOARD_LOGIN_REQUIRED and not (user and user.is_authenticated):
            await self.close(code=LOGIN_REQUIRED)
            return
        self.subscribed: set[str] = set()
        self.unread = Unread(settings.DASHBOARD_UNREAD_BYTES)
        self.pages = Allowance(settings.DASHBOARD_PAGES_PER_SECOND, contract.MAX_SUBSCRIPTIONS, time.monotonic())
        self.behind = False  # closed for falling behind: nothing more is sent
        self.filter: DeltaFilter | None = None
        self.backlog: list[contract.Delta] = []  # deltas that arrive while the snapshot is read
        await self.accept()
        # Listen first, then read the snapshot: a delta published in between is
        # received, and the watermarks decide whether the snapshot counted it.
        try:
            await HUB.join(self)
        except ConnectionError:
            await self.close(code=RESYNC)  # Redis is away: the page retries with backoff
            return
        try:
            text, watermarks = await HUB.snapshot()
        except ClickHouseError:
            logger.warning("no snapshot for a new client: ClickHouse failed", exc_info=True)
            await self.close(code=RESYNC)  # the page retries with backoff
            return
        await self.send(text_data=text)
        self.filter = DeltaFilter(settings.KAFKA_TOPIC, watermarks)
        backlog, self.backlog = self.backlog, []
        if backlog:
            await self.deliver(backlog)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections before every message, in a thread hop.
        # A client's messages never use the database: the hub's reads do, and close stale
        # connections around each (database_sync_to_async). The hops were a large part of
        # daphne's CPU with many clients (docs/benchmarks/design.md).
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        # Channels' own would also leave groups (this consumer has none) and close stale
        # database connections (see dispatch).
        HUB.leave(self)
        raise StopConsumer()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        request = _parse_request(text_data, bytes_data)
        if request is None or (request["type"] == contract.ACK and not self.unread.acknowledge(request["frames"])):
            await self.close(code=BAD_REQUEST)
            return
        if request["type"] == contract.SUBSCRIBE:
            added = set(request["symbols"]) - self.subscribed
            self.subscribed = set(request["symbols"])
            for symbol in sorted(added):
                await self.send(text_data=self._first_page(symbol))

    def _first_page(self, symbol: str) -> str:
        """The page frame of a drill-down just opened: from memory, on this event loop, with no
        request, thread or query (its trades None when not kept, or past the allowance: the
        page then asks the API)."""
        kept = pages.kept_first_page(symbol) if self.pages.take(time.monotonic()) else None
        trades, following = kept if kept is not None else (None, None)
        return contract.encode(contract.PageFrame(type=contract.PAGE, symbol=symbol, trades=trades, next=following))

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None,
                   close: bool = False) -> None:
        """Every frame counts against the client's unread bytes; past the bound the client
        is closed, to start again from a snapshot once it reads again."""
        if self.behind:
            return
        if text_data is not None and not self.unread.sent(len(text_data)):  # JSON here is ASCII
            self.behind = True
            BEHIND.inc()
            logger.info("closing a dashboard client %d bytes behind", self.unread.bytes)
            await self.close(code=RESYNC)
            return
        await super().send(text_data, bytes_data, close)

    async def deliver(self, window: list[contract.Delta], shared: tuple[contract.DeltaFrame, str] | None = None,
                      trades: dict[str, str] | None = None) -> None:
        """One window of deltas: the hub's shared (update, frame), unless this client's
        snapshot already counted part of the window (or there is none) and it needs its own;
        then the trades frames of the symbols it has open (the hub's `trades`, read once)."""
        if self.filter is None:
            self.backlog.extend(window)
            return
        new = [delta for delta in window if self.filter.is_new(delta)]
        if shared is None or len(new) < len(window):
            update = merge(new)
            if update is None:
                return
            shared = (update, contract.encode_delta_frame(update))
        update, frame = shared
        await self.send(text_data=frame)
        if not self.subscribed:  # most clients: no drill-down open, no walk over the update's symbols
            return
        for symbol in self.subscribed.intersection(update["symbols"]):
            text = trades.get(symbol) if trades else await HUB.trades_frame(symbol)
            if text is not None:
                await self.send(text_data=text)


def _parse_request(text_data: str | None, bytes_data: bytes | None) -> dict[str, Any] | None:
    """The client's one kind of message, or None for anything malformed."""
    if text_data is None or len(text_data) > MAX_FRAME:
        return None
    try:
        request = json.loads(text_data)
    except ValueError:
        return None
    if not isinstance(request, dict):
        return None
    if request.get("type") == contract.ACK:
        frames = request.get("frames")
        return request if isinstance(frames, int) and not isinstance(frames, bool) and frames >= 0 else None
    if request.get("type") != contract.SUBSCRIBE:
        return None
    symbols = request.get("symbols")
    if not isinstance(symbols, list) or len(symbols) > contract.MAX_SUBSCRIPTIONS:
        return None
    if not all(isinstance(symbol, str) and 0 < len(symbol) <= 16 for symbol in symbols):
        return None
    return request
