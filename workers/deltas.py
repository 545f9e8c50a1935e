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
from concurrent.futures import Future

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

MAX_PENDING = 50


class DeltaPublisher:
    def __init__(self, group: str):
        self.group = group
        self.dropped = 0
        self._pending: set[Future] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="delta-publisher", daemon=True)
        self._thread.start()
        self._layer = asyncio.run_coroutine_threadsafe(self._make_layer(), self._loop).result(10)

    @staticmethod
    async def _make_layer():
        return get_channel_layer()

    def publish(self, message: dict) -> None:
        if len(self._pending) >= MAX_PENDING:
            # Redis is slow or gone: drop rather than queue without bound.
            self._dropped()
            return
        future = asyncio.run_coroutine_threadsafe(self._layer.group_send(self.group, message), self._loop)
        self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future) -> None:
        self._pending.discard(future)
        if future.cancelled() or future.exception() is not None:
            self._dropped(future.exception() if not future.cancelled() else None)

    def _dropped(self, error: BaseException | None = None) -> None:
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 100 == 0:
            logger.warning("%d deltas not published (last error: %s); dashboards will resynchronise",
                           self.dropped, error)

    def close(self, timeout: float = 5.0) -> None:
        for future in list(self._pending):
            try:
                future.result(timeout)
            except Exception:  # noqa: BLE001 - already counted by _done
                pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
