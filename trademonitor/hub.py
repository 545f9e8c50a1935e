"""The process's one subscriber to the workers' deltas, for every dashboard client.

One `DeltaHub` per daphne process listens to the workers' deltas, merges them
every SEND_INTERVAL and encodes the merged frame once for all its clients; only a
client whose snapshot already counts part of a window (one just connected) gets
a merge of its own. It keeps a live copy of the snapshot (live.LiveCopy): read
from ClickHouse once, then kept current with the deltas, so a connecting client
costs no aggregation; it is read again after a gap, when the feed restarts, and
every COPY_REFRESH_SECONDS (names and alerts edited elsewhere). It keeps each
symbol's first drill-down page the same way (live.NewestTrades, from the trades
each delta carries): the API's first pages and the trades frames of open
drill-downs come from it, and a symbol without one is read from ClickHouse. It
counts the trades a second its clients' status frames carry (live.TradeRate).

The socket's side, one consumer a client, is consumers.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any, Protocol, TypeVar, cast

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from prometheus_client import Counter, Gauge

import contract
from contract import RESYNC
from infra.layer import Receiver
from trademonitor import dashboard
from trademonitor.live import GAP, NEW, Continuity, DeltaFilter, LiveCopy, NewestTrades, TradeRate, merge, stages

logger = logging.getLogger(__name__)
T = TypeVar("T")

SEND_INTERVAL = 0.1  # seconds: at most ten updates a second per client, the first at once
GATHER = 0.01  # seconds the first update after a quiet spell waits for the rest of its flush
STATUS_INTERVAL = 1.0  # seconds; the status frame carries trades a second, which a page shows as it comes
# seconds the feed runs on after its last client leaves: a page reloaded, or a connection that
# dropped, comes back to the same live copy, with its price moves, and the same kept pages
FEED_LINGER = 60.0
COPY_REFRESH_SECONDS = 60.0
NEWEST_READ_SYMBOLS = 1000  # symbols a read of newest trades covers: 50,000 rows, within the reader's row limit
NEWEST_READ_INTERVAL = 1.0  # seconds between those reads, while some symbol has no page kept
DRILLDOWN_FRAME_TRADES = 20  # trades in a trades frame


class Client(Protocol):
    """What the hub asks of a dashboard connection (consumers.DashboardConsumer)."""

    filter: DeltaFilter | None  # what its snapshot counts; None until the snapshot is sent
    subscribed: set[str]  # the symbols whose drill-down it has open

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None,
                   close: bool = False) -> None: ...

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None: ...

    async def deliver(self, window: list[contract.Delta], shared: tuple[contract.DeltaFrame, str] | None = None,
                      trades: dict[str, str] | None = None) -> None: ...


class DeltaHub:
    """The process's one subscriber to the delta group, fanning merged frames out."""

    def __init__(self) -> None:
        self.clients: set[Client] = set()
        self.window: list[contract.Delta] = []
        self._task: asyncio.Task[None] | None = None
        self._listening: asyncio.Event | None = None
        self._arrived = asyncio.Event()  # the window holds a delta not yet sent
        self.continuity = Continuity()
        self.copy: LiveCopy | None = None
        self._copy_read_at = 0.0
        self._building: asyncio.Task[None] | None = None
        self._uncopied: list[contract.Message] | None = None  # received while a copy is read
        self._feed = 0  # which run of the feed: a copy read during another missed deltas
        self.newest = NewestTrades()  # each symbol's first drill-down page, read by the API's views too
        self.rate = TradeRate(time.monotonic())

    async def join(self, client: Client) -> None:
        """Returns once deltas are being received for `client`; raises if they cannot be."""
        self.clients.add(client)
        CLIENTS.set(len(self.clients))
        if self._task is None or self._task.done():
            self._listening = asyncio.Event()
            self._arrived = asyncio.Event()  # of the loop this feed runs on
            self._task = asyncio.create_task(self._run(self._listening))
        assert self._listening is not None
        await self._listening.wait()
        if self._task.done():
            self.leave(client)
            raise ConnectionError("the delta feed is unavailable")

    def leave(self, client: Client) -> None:
        self.clients.discard(client)
        CLIENTS.set(len(self.clients))

    async def snapshot(self) -> tuple[str, dict[str, dict[int, int]]]:
        """The live copy's snapshot frame and watermarks, for a client that has joined.
        Without a copy, it waits for one to be read; an old copy is served while its
        successor is read. Raises ClickHouseError if the read fails."""
        while self.copy is None:
            await asyncio.shield(self._build())
        if time.monotonic() - self._copy_read_at > COPY_REFRESH_SECONDS and self._building is None:
            self._build().add_done_callback(_log_failed_refresh)
        return self.copy.text()

    def _build(self) -> asyncio.Task[None]:
        if self._building is None:
            self._building = asyncio.create_task(self._read_copy())
        return self._building

    async def _read_copy(self) -> None:
        # The window not yet sent too: the read may not count all of it (a lagging replica).
        feed, self._uncopied = self._feed, list(self.window)
        try:
            frame = await database_sync_to_async(dashboard.snapshot_message)()
            SNAPSHOT_READS.inc()
            copy = LiveCopy(frame, settings.KAFKA_TOPIC, dashboard.RECENT_ALERTS)
            for message in self._uncopied:
                copy.add(message)
            if feed == self._feed:  # else deltas went by unheard while it was read: read again
                copy.keep_changes(self.copy)
                self.copy, self._copy_read_at = copy, time.monotonic()
        finally:
            self._building, self._uncopied = None, None

    def _copy(self, message: contract.Message) -> None:
        if self.copy is not None:
            self.copy.add(message)
        if self._uncopied is not None:
            self._uncopied.append(message)

    async def _run(self, listening: asyncio.Event) -> None:
        layer = get_channel_layer()
        self.continuity.reset()
        self._feed += 1
        self.copy = None  # it missed whatever was published while no feed ran
        self.newest.clear()
        ticker = channel = receiver = None
        interrupted = False
        try:
            channel = await layer.new_channel()
            for group in contract.DELTA_GROUPS:
                await layer.group_add(group, channel)
            self.rate = TradeRate(time.monotonic())
            listening.set()
            ticker = asyncio.gather(self._tick(), self._status(), self._keep_newest())
            receiver = Receiver(layer, channel)
            seen = time.monotonic()  # when a client was last connected
            while self.clients or time.monotonic() - seen < FEED_LINGER:
                if self.clients:
                    seen = time.monotonic()
                message = await receiver.receive(timeout=1.0)
                if message is not None:
                    await self._take(message)
        except Exception:
            logger.warning("delta feed interrupted", exc_info=True)
            interrupted = True
            await self._resync("the delta feed was interrupted")
        finally:
            self.newest.clear()  # no feed keeps the pages current any more
            PAGES_KEPT.set(0)
            listening.set()  # a join waiting on a feed that never started must not hang
            if ticker is not None:
                ticker.cancel()
            if receiver is not None:
                receiver.close()
            if channel is not None:
                for group in contract.DELTA_GROUPS:
                    await _survive(layer.group_discard(group, channel), "unsubscribe")
        if not interrupted:
            # A client that joined while this feed was ending has a snapshot but no feed to tell
            # it what follows: it reconnects, and so starts one.
            for client in list(self.clients):
                await _survive(client.close(code=RESYNC), "resync")

    async def _take(self, message: dict[str, Any]) -> None:
        if message.get("topic") != settings.KAFKA_TOPIC:
            return
        kind = message.get("type")
        if kind in contract.COUNTED_DELTAS:
            delta = cast(contract.Delta, message)  # contract.py: the workers publish these shapes
            verdict = self.continuity.check(delta)
            if verdict == GAP:
                await self._resync(f"a {kind} went missing before offsets {message.get('consumed')}")
            elif verdict == NEW:
                if delta["type"] == contract.TRADES_DELTA and "stamps" in delta:
                    delta["stamps"]["received"] = time.time_ns() // 1_000_000
                self._copy(delta)
                if delta["type"] == contract.TRADES_DELTA:
                    self.newest.add(delta)
                    self.rate.add(delta, time.monotonic())
                self.window.append(delta)
                self._arrived.set()
        elif kind == contract.ALERTS_NEW:
            self._copy(cast(contract.AlertsMessage, message))
            await self._broadcast(contract.encode({"type": contract.ALERTS, "alerts": message["alerts"]}))

    async def _resync(self, reason: str) -> None:
        """Every client reconnects and starts again from a snapshot (the page does so by itself)."""
        logger.warning("dashboards resynchronising: %s", reason)
        RESYNCS.inc()
        self.window = []
        self._feed += 1  # the copy, and one being read, lack what went missing
        self.copy = None
        self.newest.clear()
        self.rate = TradeRate(time.monotonic())
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
            if not self.clients:  # the feed lingers for clients to come
                continue
            status = await _survive(database_sync_to_async(dashboard.ingestion_status)(), "status")
            if status is not None:
                rate = self.rate.per_second(time.monotonic())
                frame: contract.StatusFrame = {"type": contract.STATUS, "lag": status["lag"],
                                               "workers": status["workers"],
                                               "trades_per_second": None if rate is None else round(rate)}
                # A client's first frame is its snapshot.
                await self._broadcast(contract.encode(frame), snapshot_sent_only=True)

    async def _tick(self) -> None:
        """Sends the window as soon as a delta arrives after a quiet spell; under load, every
        SEND_INTERVAL, merged. A lone trade is not held back for the next tick."""
        sent = 0.0
        while True:
            await self._arrived.wait()
            # After a quiet spell, only long enough for the rest of the flush: a worker
            # publishes a delta a partition, one after the other.
            await asyncio.sleep(max(GATHER, sent + SEND_INTERVAL - time.monotonic()))
            self._arrived.clear()
            sent = time.monotonic()
            window, self.window = self.window, []
            if not window or not self.clients:  # the copy and the pages have it already
                continue
            update = merge(window)
            if update is None:
                continue
            trades = await self._newest_trades(update)
            update["stages"] = stages(window, sent=time.time_ns() // 1_000_000)
            shared = (update, contract.encode_delta_frame(update))
            for client in list(self.clients):
                await _survive(client.deliver(window, shared, trades), "delta")

    async def _newest_trades(self, update: contract.DeltaFrame) -> dict[str, str]:
        """The trades frame of every symbol in `update` that a client has open, made once
        per window for every client that has it open."""
        wanted = set().union(*(client.subscribed for client in self.clients)).intersection(update["symbols"])
        frames = {}
        for symbol in sorted(wanted):
            frame = await self.trades_frame(symbol)
            if frame is not None:
                frames[symbol] = frame
        return frames

    async def trades_frame(self, symbol: str) -> str | None:
        """`symbol`'s newest trades as its open drill-downs get them: from its kept page, or
        else one ClickHouse read (None if that failed)."""
        page = self.newest.page(symbol, DRILLDOWN_FRAME_TRADES)
        if page is not None:
            return _trades_frame(symbol, page)
        return await _survive(sync_to_async(read_trades_frame)(symbol), "drill-down")

    async def _keep_newest(self) -> None:
        """Reads the newest trades of the snapshot's symbols that have no page kept, some at
        a time, for as long as the feed runs; not while a worker reads a backlog, whose
        deltas would drop the pages again and which the reads would slow down."""
        while True:
            await asyncio.sleep(NEWEST_READ_INTERVAL)
            PAGES_KEPT.set(len(self.newest.pages))
            backlog, self.newest.backlog = self.newest.backlog, False
            missing = self.newest.missing(self.copy.frame["symbols"]) if self.copy is not None else []
            if backlog or not missing:
                continue
            symbols = missing[:NEWEST_READ_SYMBOLS]
            self.newest.begin(symbols)
            # Not in the thread the views share: a read of many symbols must not hold them up.
            rows = await _survive(sync_to_async(dashboard.newest_trades_by_symbol, thread_sensitive=False)(symbols),
                                  "drill-down pages")
            if rows is None:
                self.newest.abandon()  # those symbols are read again next time
                continue
            self.newest.read(rows)
            moves = self.copy.seed_moves(self.newest, symbols) if self.copy is not None else {}
            if moves:
                frame: contract.MovesFrame = {"type": contract.MOVES, "moves": moves}
                await self._broadcast(contract.encode(frame), snapshot_sent_only=True)


HUB = DeltaHub()
CLIENTS = Gauge("trademonitor_websocket_clients", "Dashboard WebSocket clients connected to this process")
RESYNCS = Counter("trademonitor_dashboard_resyncs_total", "Times this process sent every client back to a snapshot")
SNAPSHOT_READS = Counter("trademonitor_snapshot_reads_total", "ClickHouse snapshot reads for the live copy of "
                         "this process")
PAGES_KEPT = Gauge("trademonitor_drilldown_pages_kept", "Symbols whose first drill-down page this process keeps "
                   "in memory (while a dashboard is connected), as of the last second")
DRILLDOWN_READS = Counter("trademonitor_drilldown_reads_total", "ClickHouse reads of a symbol's newest trades for "
                          "open drill-downs")


def read_trades_frame(symbol: str) -> str:
    """A symbol's newest trades as the frame its open drill-downs get, read from ClickHouse."""
    DRILLDOWN_READS.inc()
    return _trades_frame(symbol, dashboard.newest_trades(symbol, DRILLDOWN_FRAME_TRADES))


def _trades_frame(symbol: str, trades: list[list[Any]]) -> str:
    frame: contract.TradesFrame = {"type": contract.TRADES, "symbol": symbol, "trades": trades}
    return contract.encode(frame)


def _log_failed_refresh(task: asyncio.Task[None]) -> None:
    """A refresh nobody waits for: its failure is logged, and the old copy serves on."""
    if not task.cancelled() and task.exception() is not None:
        logger.warning("the snapshot copy could not be refreshed", exc_info=task.exception())


async def _survive(step: Awaitable[T], what: str) -> T | None:
    """A failed step (ClickHouse, the database or a client away) skips one update, not the feed;
    returns the step's result, or None when it failed."""
    try:
        return await step
    except Exception:
        logger.warning("dashboard %s failed; will try again", what, exc_info=True)
        return None
