"""Dashboard clients for tests: each keeps the totals a browser would show, from the
snapshot and the deltas of its own WebSocket, and reconnects as the page does
(with backoff, whatever closed the socket), starting again from a fresh snapshot."""

from __future__ import annotations

import asyncio
import threading
import time

import orjson
import websockets

from harness.acks import Acknowledger


class DashboardMirror:
    def __init__(self, port: int):
        self.url = f"ws://127.0.0.1:{port}/ws/live"
        self.origin = f"http://127.0.0.1:{port}"
        self.totals: dict[str, list[int]] = {}  # symbol -> [trades, shares, volume cents]
        self.snapshots = 0
        self.deltas = 0  # delta frames received, over every connection
        self.lock = threading.Lock()
        self._stop = threading.Event()

    async def run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                async with websockets.connect(self.url, origin=self.origin, max_size=None, open_timeout=10) as socket:
                    backoff = 0.5
                    await self._listen(socket)
            except (TimeoutError, OSError, websockets.WebSocketException):
                pass
            if not self._stop.is_set():
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _listen(self, socket) -> None:
        acks = Acknowledger()
        while not self._stop.is_set():
            try:
                frame = await asyncio.wait_for(socket.recv(), timeout=0.5)
            except TimeoutError:
                continue
            self.apply(orjson.loads(frame))
            if (ack := acks.count()) is not None:
                await socket.send(ack)

    def apply(self, message: dict) -> None:
        with self.lock:
            if message["type"] == "snapshot":
                self.snapshots += 1
                self.totals = {symbol: row[1:4] for symbol, row in message["symbols"].items() if row[1]}
            elif message["type"] == "delta":
                self.deltas += 1
                for symbol, (trades, shares, volume, _last) in message["symbols"].items():
                    entry = self.totals.setdefault(symbol, [0, 0, 0])
                    entry[0] += trades
                    entry[1] += shares
                    entry[2] += volume

    def view(self) -> dict[str, tuple[int, int, int]]:
        with self.lock:
            return {symbol: tuple(entry) for symbol, entry in self.totals.items() if entry[0]}

    def stop(self) -> None:
        self._stop.set()


class Mirrors:
    """`count` dashboard clients on one event-loop thread."""

    def __init__(self, port: int, count: int):
        self.clients = [DashboardMirror(port) for _ in range(count)]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(asyncio.gather(*(client.run() for client in self.clients)))

    def wait_connected(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while any(client.snapshots == 0 for client in self.clients):
            if time.monotonic() > deadline:
                raise TimeoutError("dashboard clients did not get their snapshots")
            time.sleep(0.2)

    def wait_equal(self, expected: dict[str, tuple[int, int, int]], timeout: float = 60.0) -> float:
        """Seconds until every client shows `expected`; raises with the differences if they never do."""
        started = time.monotonic()
        while True:
            wrong = [client for client in self.clients if client.view() != expected]
            if not wrong:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                view = wrong[0].view()
                differences = {s: (view.get(s), expected.get(s)) for s in set(view) | set(expected)
                               if view.get(s) != expected.get(s)}
                raise AssertionError(f"{len(wrong)} of {len(self.clients)} clients differ from ClickHouse, "
                                     f"e.g. {dict(list(differences.items())[:5])}")
            time.sleep(0.5)

    def deltas(self) -> list[int]:
        """Delta frames each client received so far."""
        return [client.deltas for client in self.clients]

    @property
    def snapshots(self) -> int:
        return sum(client.snapshots for client in self.clients)

    def close(self) -> None:
        for client in self.clients:
            client.stop()
        self._thread.join(10)
