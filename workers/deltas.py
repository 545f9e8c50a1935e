"""Publishing each flush's delta to the dashboard through the Channels layer.

One event loop per worker, in a thread of its own, owns the channel layer and its
Redis connection for the worker's lifetime (an `async_to_sync` call per message
would build a new loop and connection each time). Publishing never blocks or
stops ingestion: when Redis is down the deltas are dropped and counted, and the
dashboard resynchronises from a ClickHouse snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from channels.layers import get_channel_layer

import contract

logger = logging.getLogger(__name__)

MAX_PENDING = 50


class DeltaPublisher:
    """Publishes a worker's deltas one after the other, in the order of its flushes.

    In order by construction, because the dashboard reads a delta that starts past
    the end of the previous one as a lost delta and resynchronises every client;
    concurrent publishes would go out on different pooled Redis connections, whose
    order nothing guarantees.
    """

    def __init__(self, group: str, on_drop: Callable[[], object] = lambda: None):
        self.group = group
        self.dropped = 0
        self._on_drop = on_drop
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="delta-publisher", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    async def _start(self) -> None:
        self._layer = get_channel_layer()
        self._queue: asyncio.Queue[contract.Message] = asyncio.Queue(MAX_PENDING)
        self._sender = asyncio.create_task(self._send_in_order())

    def publish(self, message: contract.Message) -> None:
        """Queue `message`; never blocks. When Redis is slow or gone and MAX_PENDING are
        waiting, it is dropped (and counted) rather than queued without bound."""
        self._loop.call_soon_threadsafe(self._enqueue, message)

    def _enqueue(self, message: contract.Message) -> None:
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self._dropped()

    async def _send_in_order(self) -> None:
        while True:
            message = await self._queue.get()
            try:
                await self._layer.group_send(self.group, message)
            except Exception as exc:  # noqa: BLE001 - Redis away: counted, dashboards resynchronise
                self._dropped(exc)
            finally:
                self._queue.task_done()

    def _dropped(self, error: BaseException | None = None) -> None:
        self.dropped += 1
        self._on_drop()
        if self.dropped == 1 or self.dropped % 100 == 0:
            logger.warning("%d deltas not published (last error: %s); dashboards will resynchronise",
                           self.dropped, error)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (for at most `timeout`), then stop."""
        sent = asyncio.run_coroutine_threadsafe(asyncio.wait_for(self._queue.join(), timeout), self._loop)
        try:
            sent.result(timeout + 1)
        except Exception:  # noqa: BLE001 - Redis away: what is left is dropped
            pass
        self._loop.call_soon_threadsafe(self._sender.cancel)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
