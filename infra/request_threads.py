"""Each HTTP request's synchronous code on a thread kept from an earlier request.

Django runs a request's synchronous code (middleware, views, signals) on one thread of its
own: asgiref starts a thread for every request and ends it with the request. Starting one
blocks daphne's event loop until the new thread first runs, which on a busy machine is a
scheduler's wait, and every WebSocket client of the process waits with it
(docs/benchmarks/design.md). `RequestThreads` hands each request a one-thread executor kept
from an earlier request instead (asgiref's `ThreadSensitiveContext(executor=...)`): still one
thread a request, and its own while it runs, so Django sees what it did before.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext

# Executors kept between requests. Requests that overlap past this many get a thread each as
# before, and the extra ones end with their requests.
KEPT_THREADS = 16


class RequestThreads:
    """ASGI middleware for Django's HTTP application (trademonitor/asgi.py)."""

    def __init__(self, app: Any, kept: int = KEPT_THREADS):
        self.app = app
        self.kept = kept
        self._idle: list[ThreadPoolExecutor] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        executor = self._idle.pop() if self._idle else ThreadPoolExecutor(1, thread_name_prefix="request")
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.app(scope, receive, send)
        finally:
            if len(self._idle) < self.kept:
                self._idle.append(executor)
            else:
                executor.shutdown(wait=False)
