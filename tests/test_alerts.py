"""The max-volume alerts job against Kafka, the ClickHouse endpoint and Redis: a
stream crafted so that known symbols win known windows gives exactly those alerts,
once each, on the alerts topic, in ClickHouse and in admin's table, also when the
pool is killed mid-window and started again."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import time
from decimal import Decimal

import pytest
from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, TopicPartition
from websockets.sync.client import connect

from clickhouse.alerts import event_time_watermark
from harness.acks import Acknowledger
from infra.kafka import client_config, ensure_topic
from tests.conftest import BUNDLED_SYMBOLS, free_port
from tests.pipeline import Pipeline
from tests.trades_data import EPOCH, insert, make_trade
from workers.alerts import window_floor
from workers.jobs import consumer_group

pytestmark = [pytest.mark.services, pytest.mark.slow]

WINDOW = dt.timedelta(minutes=5)
LATENESS_SECONDS = 30
PARTITIONS = 3


def test_window_floor_aligns_to_the_clock():
    moment = dt.datetime(2026, 11, 26, 10, 7, 59, 999000, tzinfo=dt.UTC)
    assert window_floor(moment, WINDOW) == dt.datetime(2026, 11, 26, 10, 5, tzinfo=dt.UTC)
    assert window_floor(moment.replace(minute=10, second=0, microsecond=0), WINDOW).minute == 10


def test_windows_stay_open_until_every_partition_of_the_topic_has_a_trade_stored(schema):
    writer, _reader = schema
    # One worker's first insert, of partition 0, lands before the other partitions' first ones.
    insert(writer, [make_trade("AAPL", 600_000, 100, 1, partition=0, offset=0)])

    assert event_time_watermark(writer, PARTITIONS) is None

    insert(writer, [make_trade("AAPL", 400_000, 100, 1, partition=1, offset=0),
                    make_trade("MSFT", 500_000, 100, 1, partition=2, offset=0),
                    # Trades a benchmark loads under partitions the topic does not have (benchmarks/query.load).
                    make_trade("MSFT", 100_000, 100, 1, partition=PARTITIONS, offset=0)])
    assert event_time_watermark(writer, PARTITIONS) == EPOCH + dt.timedelta(milliseconds=400_000)


class CraftedStream:
    """Windows of trades whose winners are known: in window i, WINNERS[i] trades
    100 shares at $100 three times, while three other symbols trade 10 shares at $10
    five times. Trades go round-robin to the partitions, so each partition's event
    time moves on with the stream."""

    def __init__(self, pipeline: Pipeline, symbols: list[str]):
        self.pipeline = pipeline
        self.symbols = symbols
        # Recent enough for the workers' timestamp check, and on the clock's 5-minute grid.
        self.base = window_floor(dt.datetime.now(dt.UTC) - dt.timedelta(days=1), WINDOW)
        self.expected: dict[int, tuple[str, Decimal, int]] = {}
        self._next_partition = 0

    def start(self, window: int) -> dt.datetime:
        return self.base + window * WINDOW

    def window(self, index: int, first_second: int = 0, last_second: int = 299) -> None:
        """Send window `index`'s trades whose second within the window is in [first, last]."""
        winner = self.symbols[index]
        others = [s for s in self.symbols if s != winner][index % 3:][:3]
        plan = [(winner, 10_000, 100, second) for second in (10, 150, 290)]
        plan += [(symbol, 1_000, 10, second) for symbol in others for second in (5, 70, 130, 200, 280)]
        self.send(index, [trade for trade in plan if first_second <= trade[3] <= last_second])
        self.expected[index] = (winner, Decimal(3 * 10_000 * 100) / 100, 3)

    def send(self, index: int, plan: list[tuple[str, int, int, int]]) -> None:
        trades = []
        for symbol, price, quantity, second in sorted(plan, key=lambda trade: trade[3]):
            at_ms = int((self.start(index) + dt.timedelta(seconds=second)).timestamp() * 1000)
            trades.append((symbol, price, quantity, at_ms, self._next_partition))
            self._next_partition = (self._next_partition + 1) % PARTITIONS
        self.pipeline.send_trades(trades)

    def advance_to(self, index: int, second: int) -> None:
        """One small trade per partition at second `second` of window `index`: every
        partition's event time reaches that moment."""
        self.send(index, [(self.symbols[-1], 1, 1, second)] * PARTITIONS)


def published_alerts(topic: str, at_least: int, timeout: float = 90.0, settle: float = 0.0) -> list[dict]:
    """Every committed message on `topic` once at least `at_least` are there (and
    `settle` seconds later, to catch any that should not come)."""
    deadline = time.monotonic() + timeout
    while True:
        alerts = _read_all(topic)
        if len(alerts) >= at_least or time.monotonic() > deadline:
            break
        time.sleep(1)
    if settle:
        time.sleep(settle)
        alerts = _read_all(topic)
    return alerts


def _read_all(topic: str) -> list[dict]:
    consumer = Consumer(client_config(**{"group.id": "alerts-test-reader", "enable.partition.eof": True,
                                         "isolation.level": "read_committed"}))
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        if high <= low:
            return []
        consumer.assign([TopicPartition(topic, 0, low)])
        alerts = []
        while True:
            message = consumer.poll(10)
            assert message is not None, "reading the alerts topic timed out"
            if message.error():
                assert message.error().code() == KafkaError._PARTITION_EOF, message.error()
                return alerts
            alerts.append(json.loads(message.value()))
    finally:
        consumer.close()


@pytest.fixture
def pipeline(services, symbol_db):
    pipeline = Pipeline(symbol_db)
    ensure_topic(f"{pipeline.topic}.alerts", 1)
    pipeline.extra_environment.update({
        "ALERTS_TOPIC": f"{pipeline.topic}.alerts",
        "ALERTS_LATENESS_SECONDS": str(LATENESS_SECONDS),
    })
    yield pipeline
    pipeline.close()


def test_known_winners_alerted_once_each_also_across_a_restart_mid_window(pipeline, symbol_db):
    alerts_topic = f"{pipeline.topic}.alerts"
    stream = CraftedStream(pipeline, BUNDLED_SYMBOLS[:40])

    # Windows 0-2 complete, window 3 begun: 0-2 closed once every partition is 30 s into window 3.
    for index in range(3):
        stream.window(index)
    stream.window(3, last_second=60)
    stream.advance_to(3, LATENESS_SECONDS)
    pool = pipeline.start_pool(2, "--job", "ingest", "--job", "alerts")
    first = published_alerts(alerts_topic, at_least=3)
    assert [alert["symbol"] for alert in first] == [stream.expected[i][0] for i in range(3)]

    # A dashboard attached now is sent the alerts to come as they are published.
    web_port = free_port()
    pipeline.start_web(web_port)
    socket = _dashboard_socket(web_port)
    snapshot = json.loads(socket.recv(timeout=30))
    assert [alert["symbol"] for alert in snapshot["alerts"]] == [stream.expected[i][0] for i in (2, 1, 0)]

    # Killed mid-window 3 (no drain, no goodbye), then the rest of the stream, then a
    # start from whatever the dead pool left behind.
    os.killpg(pool.pid, signal.SIGKILL)
    pool.wait(30)
    stream.window(3, first_second=61)
    stream.window(4)
    stream.window(5)
    # Late for window 1, whose alert is out: it must not be recomputed or sent again.
    stream.send(1, [(BUNDLED_SYMBOLS[-2], 1_000_000, 1_000, 299)])
    stream.advance_to(6, LATENESS_SECONDS)
    pipeline.start_pool(2, "--job", "ingest", "--job", "alerts")

    alerts = published_alerts(alerts_topic, at_least=6, settle=5)
    windows = [stream.start(i) for i in range(6)]
    assert alerts == [{
        "window_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window_end": (start + WINDOW).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "symbol": stream.expected[i][0],
        "volume": f"{stream.expected[i][1]:.2f}",
        "trades": stream.expected[i][2],
    } for i, start in enumerate(windows)]

    client = pipeline.clickhouse()
    stored = client.query("SELECT window_start, symbol, volume, trades FROM volume_alerts ORDER BY window_start")
    assert [(start.replace(tzinfo=None), *rest) for start, *rest in stored.result_rows] == [
        (start.replace(tzinfo=None), *stream.expected[i]) for i, start in enumerate(windows)]

    with sqlite3.connect(symbol_db) as admin_db:
        rows = admin_db.execute(
            "SELECT symbol, volume, trades FROM trademonitor_volumealert WHERE window_start >= ? AND window_start < ?"
            " ORDER BY window_start", (_sqlite_time(windows[0]), _sqlite_time(windows[-1] + WINDOW))).fetchall()
    assert [(symbol, Decimal(str(volume)), trades) for symbol, volume, trades in rows] == [
        stream.expected[i] for i in range(6)]

    # The alerts job's worker took part in the group (it was elected) but fetched no trade:
    # it never had an offset to commit. (The ingest group committed everything.)
    assert set(pipeline.committed_by(consumer_group(pipeline.group, "alerts")).values()) == {OFFSET_INVALID}
    assert all(offset > 0 for offset in pipeline.committed().values())

    # The dashboard was pushed windows 3-5 as they were published (it reconnects on its own
    # in the browser; this plain socket only needs to survive the pool's restart).
    pushed = _alerts_received(socket, expected=3)
    assert [alert["symbol"] for alert in pushed] == [stream.expected[i][0] for i in (3, 4, 5)]


def _dashboard_socket(port: int, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return connect(f"ws://127.0.0.1:{port}/ws/live", origin=f"http://127.0.0.1:{port}",
                           max_size=64 << 20, open_timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _alerts_received(socket, expected: int, timeout: float = 60.0) -> list[dict]:
    received = []
    acks = Acknowledger()
    acks.received = 1  # the snapshot, read by the test
    deadline = time.monotonic() + timeout
    while len(received) < expected and time.monotonic() < deadline:
        try:
            frame = json.loads(socket.recv(timeout=1))
        except TimeoutError:
            continue
        if (ack := acks.count()) is not None:
            socket.send(ack)
        if frame["type"] == "alerts":
            received.extend(frame["alerts"])
    return received


def _sqlite_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
