"""The real Kafka broker: produce, consume in a group, commit, resume."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from infra.kafka import client_config, delete_topics, ensure_topic

pytestmark = pytest.mark.services


def consume(consumer: Consumer, count: int, timeout: float = 30.0) -> list:
    """Up to `count` messages, polling until none arrive within `timeout`."""
    messages = []
    while len(messages) < count:
        batch = consumer.consume(num_messages=count - len(messages), timeout=timeout)
        if not batch:
            break
        for message in batch:
            assert message.error() is None, message.error()
            messages.append(message)
    return messages


@pytest.fixture
def topic(services):
    name = f"test-{uuid.uuid4().hex[:10]}"
    assert ensure_topic(name, 3)
    assert not ensure_topic(name, 3)  # idempotent
    return name


def new_consumer(group: str) -> Consumer:
    return Consumer(client_config(**{
        "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False,
    }))


def test_group_consumer_resumes_at_committed_offset(topic):
    producer = Producer(client_config())
    keys = [str(uuid.uuid4()) for _ in range(300)]
    for key in keys:
        producer.produce(topic, key=key, value=f'{{"id": "{key}"}}')
    assert producer.flush(30) == 0
    group = f"group-{uuid.uuid4().hex[:8]}"

    first = new_consumer(group)
    first.subscribe([topic])
    head = consume(first, 120)
    first.commit(asynchronous=False)
    committed = first.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
    first.close()

    second = new_consumer(group)
    second.subscribe([topic])
    rest = consume(second, 180)
    second.close()

    assert len(head) == 120 and len(rest) == 180
    assert sorted(m.key().decode() for m in head + rest) == sorted(keys)
    resumed_at = {p.partition: p.offset for p in committed}
    for message in rest:
        assert message.offset() >= resumed_at[message.partition()]
    assert sum(offset for offset in resumed_at.values() if offset > 0) == 120


def test_trades_topic_has_three_partitions(services):
    from confluent_kafka.admin import AdminClient
    from django.conf import settings

    metadata = AdminClient(client_config()).list_topics(timeout=10)
    assert len(metadata.topics[settings.KAFKA_TOPIC].partitions) == 3


def test_delete_topics_takes_a_topics_family_and_nothing_else(services):
    names = [f"test-{uuid.uuid4().hex[:10]}" for _ in range(10)]
    families = {name: [name, f"{name}.dlq", f"{name}.alerts"] for name in names}
    bystander = f"{names[0]}x"  # shares the prefix, not the family
    for topic in [*(topic for family in families.values() for topic in family), bystander]:
        assert ensure_topic(topic, 1)
    # Ten calls: a request dropped before it was sent (the client closed too soon) left
    # about one family in five behind, so one call alone would pass most of the time.
    for name, family in families.items():
        assert sorted(delete_topics(name)) == sorted(family)
    doomed = {topic for family in families.values() for topic in family}
    admin = AdminClient(client_config())
    deadline = time.monotonic() + 30
    while left := doomed & set(admin.list_topics(timeout=10).topics):  # deletion completes in the broker
        assert time.monotonic() < deadline, f"still there: {sorted(left)}"
        time.sleep(0.2)
    assert bystander in admin.list_topics(timeout=10).topics
    assert delete_topics(bystander) == [bystander]
