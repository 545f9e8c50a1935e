"""Kafka settings shared by the producer, the workers and the dev launcher."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from django.conf import settings

logger = logging.getLogger(__name__)


# Kafka's default broker and topic limit on a message: what producers of this project
# allow themselves, so anything a default topic accepts can be sent (and tested).
MESSAGE_MAX_BYTES = 1_048_588


def client_config(**overrides) -> dict:
    """librdkafka configuration for any client of the project's Kafka."""
    return {"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS, **overrides}


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


def ensure_topics() -> None:
    """The topics the system uses, created idempotently like the seed's topic-create."""
    ensure_topic(settings.KAFKA_TOPIC, settings.KAFKA_TOPIC_PARTITIONS)
