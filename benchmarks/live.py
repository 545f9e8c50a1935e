"""`bench latency`, `fanout`, `slowclients`, `snapshot`, `firstpage` and `drilldown`: from a trade's
production to the dashboard.

Each runs the real path on a topic and a scratch database of its own, as `make demo` runs
it (benchmarks/system.py): producer → Kafka → `runworkers` → ClickHouse → Channels (Redis)
→ daphne → WebSocket clients (benchmarks/clients.py).

latency: one client; exact per trade. Every symbol's trades go to one partition, so
a symbol's running count in the updates says exactly which of its trades have been
counted: each trade's latency is from its production to the first update that
counts it. p50, p90, p99 and max over every trade.
fanout: many clients; per update, the age of the newest trade it accounts for
(a trade's timestamp is its production time), and whether every client was told
about every trade.
slowclients: clients that never read beside one timed as latency does: daphne's memory.
snapshot: N trades loaded, then many clients connecting at once: each one's time to its
first frame (the snapshot, names, whales and alerts included), with no client connected
before them (the web process reads ClickHouse once for all) and, round after round,
beside one that is (its live copy serves them).
firstpage: N trades loaded, trades flowing and a dashboard open: a drill-down's first page
through the API, one random symbol after another, each timed; then some checked against
ClickHouse's.
"""

from __future__ import annotations

import asyncio
import http.client
import random
import socket
import tempfile
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import orjson
from clickhouse_connect.driver.client import Client
from django.conf import settings

import contract
from benchmarks.clients import ClientFleet, Told, TradeTimer
from benchmarks.query import END_OF_TIME, LAST_UUID
from benchmarks.stats import percentile
from benchmarks.system import WEB_LOG, Stream, metric, run_system, stream_until_idle, wait_until_stored
from harness.pool import database_url, free_port, memory_mb, start_web, stop_pool
from harness.scratch import scratch_database, scratch_django_database
from harness.wsclient import Connection, opening_handshake
from trademonitor.symbols import bundled_universe


def latency(rate: int, seconds: float) -> dict:
    stream = Stream(f"bench-live-{uuid.uuid4().hex[:8]}", rate, seconds, record=True)
    timer = TradeTimer(stream)

    def listen(url: str, stream: Stream, writer: Client) -> None:
        ready, done = threading.Event(), threading.Event()
        client = timer.run(url, ready, done)
        stream_until_idle(stream, writer)
        done.set()
        client.join(30)

    run_system(stream, listen)
    return {"rate": rate, "seconds": seconds, **timer.figures()}


def slowclients(clients: int, rate: int, seconds: float) -> dict:
    """`clients` WebSocket clients that complete the handshake and never read again, beside
    one timed client that reads (and acknowledges) as the page does, while trades flow at
    `rate`: daphne's RSS before they connect, at its highest and after, and the timed
    client's exact per-trade latency and count."""
    stream = Stream(f"bench-live-{uuid.uuid4().hex[:8]}", rate, seconds, record=True)
    timer = TradeTimer(stream)
    figures: dict = {}

    def listen(url: str, stream: Stream, writer: Client, processes: dict[str, int]) -> None:
        daphne = processes["daphne"]
        ready, done = threading.Event(), threading.Event()
        client = timer.run(url, ready, done)
        before = memory_mb(daphne)
        idle = [_never_reading(url) for _ in range(clients)]
        highest = before
        sampling = threading.Event()

        def sample() -> None:
            nonlocal highest
            while not sampling.wait(0.5):
                highest = max(highest, memory_mb(daphne))

        sampler = threading.Thread(target=sample)
        sampler.start()
        stream_until_idle(stream, writer)
        done.set()
        client.join(30)
        sampling.set()
        sampler.join()
        for connection in idle:
            connection.close()
        figures.update(rss_before_mb=round(before, 1), rss_highest_mb=round(highest, 1),
                       rss_after_mb=round(memory_mb(daphne), 1), rss_growth_mb=round(highest - before, 1),
                       closed_behind=int(metric(url, "trademonitor_websocket_clients_behind_total")))

    run_system(stream, listen, with_processes=True)
    return {"clients": clients, "rate": rate, "seconds": seconds, **figures, **timer.figures()}


def snapshot(trades: int, clients: int, rounds: int) -> dict:
    """Cold: one round, the web process's first clients (its copy is read once for all).
    Warm: `rounds` rounds beside a connected client; p50 / p99 / max over every round's
    clients, and the worst round's p99."""
    from benchmarks.query import load

    figures: dict = {"trades": trades, "clients": clients, "rounds": rounds}
    universe = bundled_universe()
    with scratch_database("snapshot") as (database, writer, _reader), \
            scratch_django_database() as django_database:
        figures["load_seconds"] = round(load(writer, trades, symbols=universe), 1)
        environment = {"CLICKHOUSE_URL": database_url(settings.CLICKHOUSE_URL, database),
                       "CLICKHOUSE_READONLY_URL": database_url(settings.CLICKHOUSE_READONLY_URL, database),
                       "DATABASE_URL": django_database}
        port = free_port()
        web = start_web(environment, port, log=WEB_LOG)
        url = f"ws://127.0.0.1:{port}/ws/live"
        try:
            cold, size = asyncio.run(_first_frames(url, clients, resident=False))
            warm = [asyncio.run(_first_frames(url, clients, resident=True))[0] for _ in range(rounds)]
            for case, times in (("cold", cold), ("warm", [time_ for round_ in warm for time_ in round_])):
                figures.update({f"{case}_p50_ms": round(percentile(times, 0.5), 1),
                                f"{case}_p99_ms": round(percentile(times, 0.99), 1),
                                f"{case}_max_ms": round(max(times), 1)})
            figures["warm_worst_round_p99_ms"] = round(max(percentile(times, 0.99) for times in warm), 1)
            figures["snapshot_bytes"] = size
            figures["clickhouse_snapshot_reads"] = int(metric(url, "trademonitor_snapshot_reads_total"))
        finally:
            stop_pool(web, 20)
    return figures


async def _first_frames(url: str, count: int, resident: bool) -> tuple[list[float], int]:
    """Each of `count` clients' time from connecting to having its whole first frame, all
    started at once and staying connected until all have it, as pages opened together do;
    with `resident`, beside a client connected before them. And the first frame's size."""

    async def first_frame() -> tuple[float, int, Connection]:
        started = time.perf_counter()
        connection = await Connection.open(url)
        frame = await connection.receive_bytes()
        elapsed = (time.perf_counter() - started) * 1000
        if contract.frame_type(frame[:64].decode(errors="replace")) != contract.SNAPSHOT:
            raise RuntimeError(f"a client's first frame was {frame[:64]!r}, not the snapshot")
        return elapsed, len(frame), connection

    first = None
    if resident:
        first = await Connection.open(url)
        await first.receive_bytes()
    results = await asyncio.gather(*(first_frame() for _ in range(count)))
    for *_figures, connection in results:
        connection.close()
    if first is not None:
        first.close()
    return [elapsed for elapsed, _size, _connection in results], results[0][1]


def _never_reading(url: str) -> socket.socket:
    """A WebSocket client that sends the handshake and never reads a byte: its receive
    buffer is kept small, so what it is sent stays in daphne."""
    host, port = url.split("/")[2].split(":")
    connection = socket.socket()
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    connection.connect((host, int(port)))
    connection.sendall(opening_handshake(url))
    return connection


def fanout(clients: int, rate: int, seconds: float) -> dict:
    stream = Stream(f"bench-live-{uuid.uuid4().hex[:8]}", rate, seconds, record=True)
    told = Told(clients)

    def listen(url: str, stream: Stream, writer: Client) -> None:
        nonlocal told
        with tempfile.TemporaryDirectory() as directory:
            sent_times = Path(directory) / "sent.pickle"
            fleet = ClientFleet(url, clients, sent_times=sent_times)
            stream_until_idle(stream, writer)
            stream.save_sent_times(sent_times)
            told = fleet.stop()

    run_system(stream, listen)
    return {"clients": clients, "rate": rate, "seconds": seconds, **told.figures(stream.sent)}


def firstpage(trades: int, rate: int, seconds: float, checked: int, clickhouse: int) -> dict:
    """The drill-down's first page, one random symbol after another, both ways a client gets it,
    with `trades` trades loaded first while `rate` trades a second flow through the whole
    system: as the page gets it, a subscribe on its dashboard socket answered by a page frame
    (and, for a frame without trades, the API's page after it); and from the API
    (GET /api/symbols/<symbol>/trades), each followed by a /healthz (the same HTTP path doing
    nothing: daphne's floor). Then, the stream over, `checked` random symbols' pages both ways
    against ClickHouse's first pages.
    `clickhouse`: 1 asks the API for each page with a cursor past every trade, which it reads
    from ClickHouse: the same page, as it was served before pages were kept (the baseline)."""
    from clickhouse import queries
    from trademonitor.dashboard import trade_json
    from trademonitor.pages import encode_cursor

    stream = Stream(f"bench-live-{uuid.uuid4().hex[:8]}", rate, seconds, record=False)
    universe = bundled_universe()
    rng = random.Random(11)
    before_all = (int(END_OF_TIME.timestamp() * 1000), LAST_UUID)  # a cursor past every trade
    start = f"&before={encode_cursor(before_all)}" if clickhouse else ""
    figures: dict = {}

    def listen(url: str, stream: Stream, writer: Client) -> None:
        asyncio.run(time_pages(url, stream, writer))

    async def time_pages(url: str, stream: Stream, writer: Client) -> None:
        address = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(address.netloc, timeout=30)
        dashboard = await Connection.open(url)  # the dashboard open: daphne follows the deltas and keeps the pages
        frames = 0

        def get(path: str) -> tuple[float, bytes]:
            begun = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"{path}: HTTP {response.status} {body[:200]!r}")
            return (time.perf_counter() - begun) * 1000, body

        def api_page(symbol: str) -> tuple[float, list]:
            took, body = get(f"/api/symbols/{urllib.parse.quote(symbol)}/trades?limit={contract.FIRST_PAGE}{start}")
            return took, orjson.loads(body)["trades"]

        def subscribe(symbols: list[str]) -> None:
            dashboard.send(orjson.dumps({"type": contract.SUBSCRIBE, "symbols": symbols}).decode())

        async def socket_page(symbol: str) -> tuple[float, list, bool]:
            """As the page opens a drill-down, its only one: (ms, trades, whether the page frame
            held them). The last one closed first, untimed: a subscribe answers only what it adds."""
            nonlocal frames
            subscribe([])
            begun = time.perf_counter()
            subscribe([symbol])
            wanted = orjson.dumps({"type": contract.PAGE, "symbol": symbol})[:-1]
            while not (frame := await dashboard.receive_bytes()).startswith(wanted):
                frames += 1
                dashboard.send(contract.ack(frames))
            frames += 1
            page = orjson.loads(frame)["trades"]
            kept = page is not None
            if page is None:
                page = api_page(symbol)[1]
            return (time.perf_counter() - begun) * 1000, page, kept

        await dashboard.receive_bytes()  # the snapshot
        frames += 1
        started = time.monotonic()
        while metric(url, PAGES_KEPT) < len(universe):
            if time.monotonic() - started > 300:
                raise RuntimeError("daphne did not keep every symbol's first page within 300 s")
            await asyncio.sleep(0.5)
        figures["pages_kept_after_s"] = round(time.monotonic() - started, 1)
        from_memory = metric(url, MEMORY_PAGES)
        producer = threading.Thread(target=stream.run, daemon=True)
        producer.start()
        pages, floor, socket_pages, socket_kept = [], [], [], 0
        while not stream.done.is_set():
            took, _, kept = await socket_page(rng.choice(universe))
            socket_pages.append(took)
            socket_kept += kept
            pages.append(api_page(rng.choice(universe))[0])
            floor.append(get("/healthz")[0])
        producer.join()
        figures["from_memory"] = int(metric(url, MEMORY_PAGES) - from_memory)
        wait_until_stored(writer, trades + stream.sent)
        exact = socket_exact = 0
        for symbol in rng.sample(universe, checked):
            stored = [trade_json(trade) for trade in queries.trades_page(writer, symbol, limit=contract.FIRST_PAGE).trades]
            exact += api_page(symbol)[1] == stored
            socket_exact += (await socket_page(symbol))[1] == stored
        dashboard.close()
        figures.update(socket_pages=len(socket_pages), socket_from_memory=socket_kept,
                       socket_p50_ms=round(percentile(socket_pages, 0.5), 2),
                       socket_p99_ms=round(percentile(socket_pages, 0.99), 2), socket_max_ms=round(max(socket_pages), 2),
                       pages=len(pages), p50_ms=round(percentile(pages, 0.5), 2),
                       p99_ms=round(percentile(pages, 0.99), 2), max_ms=round(max(pages), 2),
                       healthz_p50_ms=round(percentile(floor, 0.5), 2), healthz_p99_ms=round(percentile(floor, 0.99), 2),
                       pages_checked=checked, pages_as_stored=exact, socket_pages_as_stored=socket_exact)

    # The API's rate limit and the socket's pages a second are per client: this one stands for
    # many people's browsers.
    run_system(stream, listen, preload=trades,
               settings_environment={"API_RATE_LIMIT": "1000000/m", "DASHBOARD_PAGES_PER_SECOND": "1000000"})
    return {"trades": trades, "rate": rate, "seconds": seconds, "from": "clickhouse" if clickhouse else "kept pages",
            "inserted_beside": stream.sent, **figures}


PAGES_KEPT = "trademonitor_drilldown_pages_kept"
MEMORY_PAGES = 'trademonitor_drilldown_first_pages_total{source="memory"}'
DRILLDOWN_READS = "trademonitor_drilldown_reads_total"


def drilldown(clients: int, open_drilldowns: int, symbols: int, rate: int, seconds: float) -> dict:
    """ClickHouse reads for open drill-downs: `clients` dashboards, `open_drilldowns` of them
    with a drill-down open on one of the `symbols` most traded symbols (round robin), while
    trades flow at `rate`. Reads are daphne's own count (trademonitor_drilldown_reads_total)."""
    stream = Stream(f"bench-live-{uuid.uuid4().hex[:8]}", rate, seconds, record=False)
    universe = bundled_universe()
    popular = universe[:symbols]  # the generator trades every symbol alike: any are as busy
    opened = [popular[i % len(popular)] for i in range(open_drilldowns)]
    figures: dict = {}

    def listen(url: str, stream: Stream, writer: Client, processes: dict[str, int]) -> None:
        fleet = ClientFleet(url, clients, opened)
        before, started = metric(url, DRILLDOWN_READS), time.monotonic()
        stream_until_idle(stream, writer)
        reads, elapsed = metric(url, DRILLDOWN_READS) - before, time.monotonic() - started
        told = fleet.stop()
        figures.update(reads=int(reads), seconds=round(elapsed, 1), reads_per_s=round(reads / elapsed, 1),
                       reconnections=told.reconnections)

    run_system(stream, listen, with_processes=True)
    return {"clients": clients, "open_drilldowns": open_drilldowns, "symbols": len(popular), "rate": rate,
            "sent": stream.sent, **figures}
