"""Kafka clients of the project: one configuration, named client profiles, topic creation.

Every Kafka client (workers, producer, dead letters, the alerts ledger, benchmarks,
tests, the dev launcher) is configured here, so the settings that exactly-once and
throughput depend on are written once.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from django.conf import settings

logger = logging.getLogger(__name__)

# Kafka's default broker and topic limit on a message: what producers of this project
# allow themselves, so anything a default topic accepts can be sent (and tested).
MESSAGE_MAX_BYTES = 1_048_588

Config = dict[str, Any]


# librdkafka's own messages (a broker away, a coordinator loading), in the project's log
# with their level, instead of raw lines on stderr. They come out when the client is polled.
LIBRDKAFKA_LOGGER = logging.getLogger("librdkafka")


def client_config(**overrides: Any) -> Config:
    """librdkafka configuration for any client of the project's Kafka. A broker that is
    away is tried again every second at most, not every 10 s (librdkafka's default): a
    client is back within a second of Kafka, and one attempt a second is nothing to it."""
    return {"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS, "reconnect.backoff.max.ms": 1000,
            "logger": LIBRDKAFKA_LOGGER, **overrides}


def worker_consumer_config(group: str, instance_id: str | None, **overrides: Any) -> Config:
    """A worker's consumer: offsets committed by hand after the insert, never automatically;
    a static member (`instance_id`), so a worker restarted in its slot rejoins without a
    rebalance; a poll interval long enough to wait out ClickHouse."""
    return client_config(**{
        "group.id": group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        **({"group.instance.id": instance_id} if instance_id else {}),
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 2_000,
        # Inserts are retried while ClickHouse is down; that is not a hung consumer.
        "max.poll.interval.ms": 30 * 60 * 1000,
        "fetch.max.bytes": 64 << 20,
        "queued.max.messages.kbytes": 64 * 1024,
        **overrides,
    })


def idempotent_producer_config(**overrides: Any) -> Config:
    """A producer whose retries never duplicate or reorder a partition's messages, its
    batches compressed with lz4 (the broker stores them as sent): the cheapest codec for
    the workers to read back, which decompress every message they consume."""
    return client_config(**{"enable.idempotence": True, "acks": "all", "compression.type": "lz4", **overrides})


def transactional_producer_config(transactional_id: str, **overrides: Any) -> Config:
    """A producer whose start fences every earlier one with the same id."""
    return idempotent_producer_config(**{"transactional.id": transactional_id, **overrides})


def ensure_topic(name: str, partitions: int, bootstrap_servers: str | None = None, timeout: float = 15.0) -> bool:
    """Create `name` with `partitions` partitions unless it exists. True if created."""
    admin = AdminClient(client_config(**({"bootstrap.servers": bootstrap_servers} if bootstrap_servers else {})))
    if name in admin.list_topics(timeout=timeout).topics:
        return False
    future = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name]
    try:
        future.result(timeout)
    except KafkaException as exc:
        if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # lost a race with another creator
            raise
        return False
    logger.info("created topic %s with %d partitions", name, partitions)
    return True


def partition_count(name: str, timeout: float = 15.0) -> int:
    """How many partitions topic `name` has; KafkaException if it has none (no such topic)."""
    metadata = AdminClient(client_config()).list_topics(name, timeout=timeout).topics.get(name)
    if metadata is not None and metadata.error is not None:
        raise KafkaException(metadata.error)
    if metadata is None or not metadata.partitions:
        raise KafkaException(f"topic {name} has no partitions")
    return len(metadata.partitions)


def delete_topics(name: str, timeout: float = 10.0) -> list[str]:
    """Delete `name` and the topics named after it (`name.dlq`, `name.alerts`): a scratch
    topic's whole family. Returns those the controller took (or found gone already); the
    broker then removes them in the background. It waits for the answers: a client closed
    before then drops the requests it has not sent yet, and the topics stay."""
    admin = AdminClient(client_config())
    family = [t for t in admin.list_topics(timeout=timeout).topics if t == name or t.startswith(f"{name}.")]
    if not family:
        return []
    deleted = []
    for topic, future in admin.delete_topics(family, request_timeout=timeout).items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            if exc.args[0].name() != "UNKNOWN_TOPIC_OR_PART":  # else gone already
                logger.warning("topic %s not deleted: %s", topic, exc)
                continue
        except TimeoutError:
            logger.warning("topic %s not deleted: no answer in %.0f s", topic, timeout)
            continue
        deleted.append(topic)
    return deleted
