"""The max-volume alerts job, as the seed's alert every five minutes: for each window
of event time aligned to the clock (ALERTS_WINDOW_MINUTES), the symbol with the
highest traded volume, its volume and trade count, published once to the Kafka
topic ALERTS_TOPIC, stored in ClickHouse (`volume_alerts`) and Django admin, and
pushed to the dashboards.

Why it keeps no state
---------------------
ClickHouse already aggregates what an alert needs, exactly once: `candles_1m` has
every symbol's volume and trades per minute, and `symbol_totals` the latest event
time ingested from each partition. So the job derives the alerts from ClickHouse
(clickhouse/alerts.py) instead of summing trades in the worker, where a restart
would lose or double the sums. A window is closed once the ingested event time of
every partition of the trade topic (as many as Kafka says it has) is
ALERTS_LATENESS_SECONDS past its end; trades arriving later for it are stored but do
not change its alert.

Why an alert is published once
------------------------------
The alerts topic (one partition) is also the record of what was published. One
worker emits: the one assigned partition 0 of the trade topic. Its producer is
transactional with a fixed id, so starting it fences every earlier emitter (a
worker that died or was replaced); it then reads the topic's last committed alert
and publishes only later windows, each batch in one transaction. An alert is
stored in ClickHouse and Django (both idempotent per window) before the
transaction commits, so a crash in between republishes the stored alert, never a
recomputed one.

The job joins the trade topic's consumer group only to take part in electing the
emitter (an ElectedJob: its worker pauses the partitions it is assigned and fetches
no trade); the trades are read from ClickHouse.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from clickhouse_connect.driver.client import Client
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from django.conf import settings

import contract
from clickhouse import alerts as queries
from clickhouse.alerts import VolumeAlert
from infra.kafka import client_config, partition_count, transactional_producer_config
from trademonitor.models import VolumeAlert as AdminAlert
from workers.jobs import ElectedJob

logger = logging.getLogger(__name__)

# A long backlog (a replay of days) is worked through a day of windows per tick.
MAX_SPAN = dt.timedelta(days=1)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def window_floor(moment: dt.datetime, width: dt.timedelta) -> dt.datetime:
    """The start of the clock-aligned window of `width` that holds `moment`."""
    return moment - (moment - EPOCH) % width


class AlertsJob(ElectedJob):
    """One worker emits. (A second pool's worker in the same group is harmless: it does
    not own partition 0.)"""

    name = "alerts"
    delta_group = contract.ALERTS_GROUP

    def __init__(self, topic: str, alerts_topic: str | None = None, window_minutes: int | None = None,
                 lateness_seconds: int | None = None):
        super().__init__(topic)
        self.alerts_topic = alerts_topic or settings.ALERTS_TOPIC
        self.window_minutes = window_minutes or settings.ALERTS_WINDOW_MINUTES
        self.width = dt.timedelta(minutes=self.window_minutes)
        self.lateness = dt.timedelta(
            seconds=settings.ALERTS_LATENESS_SECONDS if lateness_seconds is None else lateness_seconds)
        self.ledger: AlertLedger | None = None
        self.partitions = 0  # the trade topic's, read from Kafka with the ledger
        self.scanned_until: dt.datetime | None = None  # windows before this had no trades or are published

    # -- emitting ----------------------------------------------------------------------
    def tick(self, client: Client, assigned: frozenset[tuple[str, int]]) -> contract.AlertsMessage | None:
        """Publish the alerts of windows closed since the last one published, if this
        worker is the emitter; returns them for the dashboards."""
        if (self.topics[0], 0) not in assigned:
            self._step_down()
            return None
        if self.ledger is None:
            self.partitions = partition_count(self.topics[0])
            self.ledger = AlertLedger(self.alerts_topic, transactional_id=f"{self.topics[0]}.{self.name}")
            self.scanned_until = self.ledger.last_window_end
        try:
            alerts = self._emit(client)
        except KafkaException:
            self._step_down()  # a fenced or failed producer starts over, rereading the ledger
            raise
        if not alerts:
            return None
        return {"type": contract.ALERTS_NEW, "topic": self.topics[0], "alerts": [alert.as_json() for alert in alerts]}

    def _emit(self, client: Client) -> list[VolumeAlert]:
        ledger = self.ledger
        assert ledger is not None  # tick() opens it first
        start, end = self._closed_span(client)
        if start is None or start >= end:
            return []
        stored = {alert.window_start: alert for alert in queries.stored_alerts(client, start, end)}
        alerts = []
        for leader in queries.window_leaders(client, start, end, self.window_minutes):
            alert = stored.get(leader.window_start)
            if alert is None:
                queries.store_alert(client, leader)
                alert = leader
            _record_for_admin(alert)
            alerts.append(alert)
        ledger.publish(alerts)
        self.scanned_until = end
        for alert in alerts:
            logger.info("alert: %s led %s-%s with %s in %d trades", alert.symbol, alert.window_start,
                        alert.window_end, alert.volume, alert.trades)
        return alerts

    def _closed_span(self, client: Client) -> tuple[dt.datetime | None, dt.datetime]:
        """[start, end): the windows now closed and not yet published."""
        watermark = queries.event_time_watermark(client, self.partitions)
        if watermark is None:
            return None, EPOCH
        end = window_floor(watermark - self.lateness, self.width)
        start = self.scanned_until
        if start is None:
            first = queries.first_minute(client)
            start = window_floor(first, self.width) if first else end
        return start, min(end, start + MAX_SPAN)

    def _step_down(self) -> None:
        if self.ledger is not None:
            self.ledger.close()
        self.ledger = None
        self.scanned_until = None


def _record_for_admin(alert: VolumeAlert) -> None:
    AdminAlert.objects.update_or_create(window_start=alert.window_start, defaults={
        "window_end": alert.window_end, "symbol": alert.symbol, "volume": alert.volume, "trades": alert.trades})


class AlertLedger:
    """The alerts topic, written in transactions and read back for the last window published."""

    def __init__(self, topic: str, transactional_id: str, timeout: float = 30.0):
        from infra.kafka import ensure_topic

        ensure_topic(topic, 1)  # one partition: the alerts' order is the windows'
        self.topic = topic
        self.timeout = timeout
        self.producer = Producer(transactional_producer_config(transactional_id, **{"linger.ms": 0}))
        # Fences every earlier producer with this id: none of them can commit from now on.
        self.producer.init_transactions(timeout)
        last = self._last_published()
        self.last_window_end = last.window_end if last else None
        logger.info("alerts ledger %s: last window published ends %s", topic, self.last_window_end)

    def publish(self, alerts: list[VolumeAlert]) -> None:
        if not alerts:
            return
        self.producer.begin_transaction()
        try:
            for alert in alerts:
                document = alert.as_json()
                self.producer.produce(self.topic, key=str(document["window_start"]), value=json.dumps(document))
            self.producer.commit_transaction(self.timeout)
        except KafkaException as exc:
            if exc.args[0].txn_requires_abort():
                self.producer.abort_transaction(self.timeout)
            raise
        self.last_window_end = alerts[-1].window_end

    def _last_published(self) -> VolumeAlert | None:
        """The last committed alert: read backwards from the end until one is found
        (transaction markers and aborted alerts take offsets too)."""
        consumer = Consumer(client_config(**{
            "group.id": f"{self.topic}.ledger", "enable.auto.commit": False,
            "isolation.level": "read_committed", "enable.partition.eof": True,
        }))
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, 0), timeout=self.timeout)
            lookback = 64
            while high > low:
                start = max(low, high - lookback)
                last = self._read_last(consumer, start)
                if last is not None or start == low:
                    return last
                lookback *= 8
            return None
        finally:
            consumer.close()

    def _read_last(self, consumer: Consumer, start: int) -> VolumeAlert | None:
        consumer.assign([TopicPartition(self.topic, 0, start)])
        last = None
        while True:
            message = consumer.poll(self.timeout)
            if message is None:
                raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "reading the alerts ledger timed out"))
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    return last
                raise KafkaException(error)
            last = VolumeAlert.from_json(json.loads(message.value() or b"{}"))

    def close(self) -> None:
        self.producer.flush(5)
