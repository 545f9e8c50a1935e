"""`manage.py jobs list`: the registered jobs, their consumer groups and lag."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils.module_loading import import_string

from infra.kafka import client_config, partition_count
from workers.jobs import consumer_group


class Command(BaseCommand):
    help = "List the worker pool's registered jobs with their consumer group and lag."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["list"])
        parser.add_argument("--group", default="trade-monitor")
        parser.add_argument("--topic", default=settings.KAFKA_TOPIC)

    def handle(self, *args: Any, group: str, topic: str, **options: Any) -> None:
        self.stdout.write(f"{'job':<12} {'group':<28} {'lag':>12}  class")
        for name, path in sorted(settings.WORKER_JOBS.items()):
            job_name = import_string(path).name
            job_group = consumer_group(group, job_name)
            self.stdout.write(f"{name:<12} {job_group:<28} {_lag(job_group, topic):>12}  {path}")


def _lag(group: str, topic: str) -> str:
    """Messages on `topic` the group has not committed yet ('-' if Kafka cannot say)."""
    consumer = Consumer(client_config(**{"group.id": group, "enable.auto.commit": False}))
    try:
        partitions = [TopicPartition(topic, p) for p in range(partition_count(topic, timeout=10))]
        lag = 0
        for committed in consumer.committed(partitions, timeout=10):
            low, high = consumer.get_watermark_offsets(committed, timeout=10)
            lag += high - (committed.offset if committed.offset >= 0 else low)
        return f"{lag:,}"
    except KafkaException:
        return "-"
    finally:
        consumer.close()
