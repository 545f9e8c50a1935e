"""Dashboard clients that count, and time, what the server tells them.

`TradeTimer` is one client timing every trade exactly (Stream sends each symbol's trades
to one partition, so a symbol's count in an update says which trades it adds) and
splitting each trade's time into stages; `ClientFleet` is many clients, in processes of
their own, each counting every trade it is told of (`Told`), every tenth one timing them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import pickle
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

import orjson

import contract
from benchmarks.stats import percentile
from benchmarks.system import Stream
from harness.acks import Acknowledger
from harness.wsclient import Closed, Connection

logger = logging.getLogger(__name__)


async def _client(url: str, on_delta: Callable[[str, int], None], reconnections: list[int],
                  ready: asyncio.Event | None = None, drill_down: str | None = None) -> None:
    """One dashboard client until cancelled: `on_delta(frame text, ms received)` for every
    delta; with `drill_down`, it has that symbol's drill-down open, as the page subscribes.
    Reconnects like the page when the server closes (4503: start again from a snapshot) or
    the connection breaks, counting each time in `reconnections[0]`."""
    while True:
        try:
            connection = await Connection.open(url)
        except OSError as exc:
            logger.warning("dashboard client could not connect (%s); retrying", exc)
        else:
            try:
                await _read_dashboard(connection, on_delta, ready, drill_down)
            except (Closed, OSError) as exc:
                logger.warning("dashboard client disconnected (%s); reconnecting", exc)
            finally:
                connection.close()
        reconnections[0] += 1
        await asyncio.sleep(0.5)


async def _read_dashboard(connection: Connection, on_delta: Callable[[str, int], None], ready: asyncio.Event | None,
                          drill_down: str | None) -> None:
    if drill_down:
        connection.send(orjson.dumps({"type": contract.SUBSCRIBE, "symbols": [drill_down]}).decode())
    acks = Acknowledger()
    while True:
        frame = await connection.receive()
        if (ack := acks.count()) is not None:
            connection.send(ack)
        # A frame's kind and a delta's counts come from its first bytes (contract.py):
        # decoding 45 KB frames would cost the clients more CPU than daphne.
        kind = contract.frame_type(frame)
        if kind == contract.DELTA:
            on_delta(frame, time.time_ns() // 1_000_000)
        elif kind == contract.SNAPSHOT and ready is not None:
            ready.set()


async def run_clients(url: str, count: int, on_delta: Callable[[int, str, int], None], started: Callable[[], object],
                      stop: Callable[[], bool], drill_downs: list[str] | None = None) -> int:
    """`count` clients, `on_delta(client index, frame, ms received)` for each one's deltas;
    `started()` once all have their snapshot; runs until `stop()` is true.
    The first clients have a drill-down open, one of `drill_downs` each. Returns how many
    times the clients reconnected."""
    reconnections = [0]
    readies = [asyncio.Event() for _ in range(count)]
    opened = list(drill_downs or [])
    tasks = [asyncio.create_task(_client(url, functools.partial(on_delta, i), reconnections, ready,
                                         opened[i] if i < len(opened) else None))
             for i, ready in enumerate(readies)]
    try:
        await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in readies)), timeout=120)
        started()
        while not stop() and not any(task.done() for task in tasks):
            await asyncio.sleep(0.2)
    finally:
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [outcome for outcome in outcomes
                if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError)]
    if failures:
        raise failures[0]  # a client failed (an update it could not count): the figures are void
    return reconnections[0]


STAGES = ("poll_wait", "batch_wait", "insert", "publish", "hub", "send")


def split_stages(spans: list[dict], at: int, produced_at: dict[tuple[int, int], int],
                 stages: dict[str, list[int]]) -> None:
    """Each trade's stages, from the stamps of the spans a frame read at `at` carries
    (contract.StagedSpan) and when each trade was produced, by (partition, offset):
    appended to `stages` (STAGES), one duration to every stage a trade, so that the
    n-th durations of all stages are one trade's (stage_figures sums them per trade)."""
    for span in spans:
        partition, (first, last), stamps = int(span["partition"]), span["offsets"], span["stamps"]
        polls = stamps["polls"]
        poll = 0
        for offset in range(first, last + 1):
            produced = produced_at.get((partition, offset))
            if produced is None:
                continue
            while poll + 1 < len(polls) and polls[poll + 1][0] <= offset:
                poll += 1
            moments = (produced, polls[poll][1], stamps["flushed"], stamps["inserted"], stamps["received"],
                       stamps["sent"], at)
            for stage, start, end in zip(STAGES, moments, moments[1:], strict=False):
                stages[stage].append(end - start)


# The two waits the design sets, whatever the machine: a caught-up worker's flush interval
# (batch wait) and the hub's ten frames a second (hub). Their per-trade sum is a floor
# under the latency that no faster insert lowers.
DESIGNED_WAITS = ("batch_wait", "hub")


def stage_figures(stages: dict[str, list[int]]) -> dict[str, float]:
    """p50 and p99 of each stage that has durations (split_stages), and the p99 of each
    trade's designed waits summed (DESIGNED_WAITS)."""
    figures = {f"{stage}_{name}_ms": round(percentile(durations, quantile), 1)
               for stage, durations in stages.items() if durations
               for name, quantile in (("p50", 0.5), ("p99", 0.99))}
    waits = [sum(per_trade) for per_trade in zip(*(stages[stage] for stage in DESIGNED_WAITS), strict=True)]
    if waits:
        figures["designed_waits_p99_ms"] = round(percentile(waits, 0.99), 1)
    return figures


class TradeTimer:
    """One client's exact per-trade latency: a symbol's trades are counted in the order
    they were sent (Stream), so the n trades an update adds to a symbol are the n oldest
    of it not yet counted.

    And where each trade's time went, from the stamps the frame carries (contract.Stamps)
    and the offset Kafka gave it: produced → polled (poll wait) → flush began (batch
    wait) → its partition's insert returned (insert) → the hub received the delta
    (publish, through Redis) → the hub sent the frame (hub) → the client read it (send).
    The stages of a trade add up to its latency."""

    def __init__(self, stream: Stream):
        self.stream = stream
        self.samples: list[int] = []
        self.stages: dict[str, list[int]] = {stage: [] for stage in STAGES}
        self.accounted = self.unpaired = 0

    def on_delta(self, frame: str, at: int) -> None:
        decoded = orjson.loads(frame)
        with self.stream.lock:
            for symbol, totals in decoded["symbols"].items():
                count, queue = totals[contract.Totals.TRADES], self.stream.sent_at[symbol]
                paired = min(count, len(queue))
                self.samples.extend(at - queue.popleft() for _ in range(paired))
                self.accounted += count
                self.unpaired += count - paired
        split_stages(decoded.get("stages", []), at, self.stream.sent_at_offset, self.stages)

    def run(self, url: str, ready: threading.Event, done: threading.Event) -> threading.Thread:
        """The client, in a thread of its own until `done`; `ready` once it has its snapshot."""
        client = threading.Thread(target=lambda: asyncio.run(
            run_clients(url, 1, lambda _client, frame, at: self.on_delta(frame, at), ready.set, done.is_set)))
        client.start()
        if not ready.wait(120):
            raise TimeoutError("the timed client got no snapshot in 120 s")
        return client

    def figures(self) -> dict:
        samples = self.samples
        figures = {"sent": self.stream.sent, "received": self.accounted, "unpaired": self.unpaired,
                   "p50_ms": round(percentile(samples, 0.5), 1), "p90_ms": round(percentile(samples, 0.9), 1),
                   "p99_ms": round(percentile(samples, 0.99), 1), "max_ms": max(samples, default=0),
                   "staged_trades": len(self.stages["send"])}
        return {**figures, **stage_figures(self.stages)}


@dataclass
class Told:
    """What a fleet of clients was told, client by client: the trades each was told of
    (exact counts, so one client's repeats cannot hide another's losses), the per-trade
    ages of the timed clients' trades and where that time went (TradeTimer's stages),
    and how often they reconnected."""

    clients: int
    delivered: list[int] = field(default_factory=list)  # trades each client was told of
    ages: list[int] = field(default_factory=list)  # ms from production to the update, per trade
    client_p99s: list[float] = field(default_factory=list)  # each timed client's age p99, ms
    reconnections: int = 0
    stages: dict[str, list[int]] = field(default_factory=lambda: {stage: [] for stage in STAGES})

    def figures(self, sent: int) -> dict:
        """Per-client delivery against `sent`: the lowest client's count, and how many
        clients were told of fewer trades (missed) or more (repeated)."""
        return {
            "clients_told_everything": sum(n == sent for n in self.delivered),
            "clients_missing": sum(n < sent for n in self.delivered),
            "clients_repeating": sum(n > sent for n in self.delivered),
            "min_client_delivered": min(self.delivered, default=0),
            "sent": sent,
            "age_p50_ms": round(percentile(self.ages, 0.5), 1) if self.ages else None,
            "age_p99_ms": round(percentile(self.ages, 0.99), 1) if self.ages else None,
            "age_max_ms": max(self.ages, default=None),
            # No timed client, no figure: 0.0 would read as "no delay".
            "worst_client_age_p99_ms": round(max(self.client_p99s), 1) if self.client_p99s else None,
            "timed_trades": len(self.ages),
            "reconnections": self.reconnections,
            **stage_figures(self.stages),
        }


class ClientFleet:
    """Dashboard clients in processes of their own, connected (snapshot received) on
    return from the constructor. One Python process could not read 200 sockets as fast
    as daphne writes them, nor keep answering keepalive pings.

    Every client counts the trades it is told of. Every TIME_EVERY-th client also times
    each of its trades, as `latency` does (a symbol's count says which trades an update
    counts): the production times are read from `sent_times` once the stream is over.
    Timing all 200 would hold every update's per-symbol counts of every client in memory."""

    PROCESSES = 4
    TIME_EVERY = 10

    def __init__(self, url: str, clients: int, drill_downs: list[str] | None = None,
                 sent_times: Path | None = None):
        """`drill_downs`: one symbol for each client that has a drill-down open;
        `sent_times`: where the stream's production times will be (pickled), to time trades."""
        self.clients = clients
        context = multiprocessing.get_context("fork")
        ready, self._results, self._done = context.Queue(), context.Queue(), context.Event()
        shares = [clients // self.PROCESSES + (i < clients % self.PROCESSES) for i in range(self.PROCESSES)]
        opened = list(drill_downs or [])
        self._processes = [context.Process(
            target=_fleet_clients,
            args=(url, n, ready, self._results, self._done, opened[i::self.PROCESSES], sent_times, self.TIME_EVERY))
            for i, n in enumerate(shares) if n]
        for process in self._processes:
            process.start()
        for _ in self._processes:
            ready.get(timeout=180)

    def stop(self) -> Told:
        """Disconnect every client; what they were told."""
        self._done.set()
        told = Told(self.clients)
        for _ in self._processes:
            delivered, ages, stages, client_p99s, reconnections = self._results.get(timeout=300)
            told.delivered.extend(delivered)
            told.ages.extend(ages)
            for stage, durations in stages.items():
                told.stages[stage].extend(durations)
            told.client_p99s.extend(client_p99s)
            told.reconnections += reconnections
        for process in self._processes:
            process.join(30)
        return told


class TimedFrames:
    """A client process's decoded delta frames: each one's trades per symbol and stage spans.
    The hub sends every client the same frame for an update, so a frame is decoded once for
    all the process's timed clients, not once each: decoding was a large share of the client
    processes' CPU, taken from the system they measure (docs/benchmarks/design.md)."""

    KEPT = 64  # frames kept decoded: a few updates' worth

    def __init__(self) -> None:
        self._decoded: dict[str, tuple[dict[str, int], list[dict]]] = {}
        self.decodes = 0

    def counts_and_stages(self, frame: str) -> tuple[dict[str, int], list[dict]]:
        found = self._decoded.get(frame)
        if found is None:
            if len(self._decoded) >= self.KEPT:
                self._decoded.clear()
            update = orjson.loads(frame)
            self.decodes += 1
            found = self._decoded[frame] = (
                {symbol: totals[contract.Totals.TRADES] for symbol, totals in update["symbols"].items()},
                update.get("stages", []))
        return found


def _fleet_clients(url: str, count: int, ready: Queue[int], results: Queue[tuple], done: EventType,
                   drill_downs: list[str], sent_times: Path | None, time_every: int) -> None:
    delivered = [0] * count
    timed = {i for i in range(count) if sent_times and i % time_every == 0}
    # Per timed client, each update: when it was read, its trades per symbol, its stamps.
    updates: dict[int, list[tuple[int, dict[str, int], list[dict]]]] = {i: [] for i in timed}
    decoded = TimedFrames()

    def on_delta(client: int, frame: str, at: int) -> None:
        # Counts from the frame's first bytes (contract.delta_counts): decoding every frame
        # whole would cost the client processes more CPU than daphne spends writing them.
        counts = contract.delta_counts(frame)
        assert counts is not None, frame[:100]
        delivered[client] += counts[0]
        if client in timed:
            updates[client].append((at, *decoded.counts_and_stages(frame)))

    reconnections = asyncio.run(run_clients(url, count, on_delta, lambda: ready.put(count), done.is_set, drill_downs))
    ages: list[int] = []
    stages: dict[str, list[int]] = {stage: [] for stage in STAGES}
    client_p99s: list[float] = []
    if timed and sent_times is not None:
        with open(sent_times, "rb") as file:
            sent_at, sent_at_offset = pickle.load(file)
        for client in sorted(timed):
            mine = _trade_ages(updates[client], sent_at)
            ages.extend(mine)
            if mine:
                client_p99s.append(percentile(mine, 0.99))
            for at, _counts, spans in updates[client]:
                split_stages(spans, at, sent_at_offset, stages)
    results.put((delivered, ages, stages, client_p99s, reconnections))


def _trade_ages(updates: list[tuple[int, dict[str, int], list[dict]]], sent_at: dict[str, list[int]]) -> list[int]:
    """Each trade's age when the first update counting it arrived: a symbol's trades are
    counted in the order they were sent (Stream), so the n an update adds are the next n."""
    seen: dict[str, int] = defaultdict(int)
    ages: list[int] = []
    for at, counts, _spans in updates:
        for symbol, n in counts.items():
            first = seen[symbol]
            ages.extend(at - sent for sent in sent_at.get(symbol, [])[first:first + n])
            seen[symbol] = first + n
    return ages
