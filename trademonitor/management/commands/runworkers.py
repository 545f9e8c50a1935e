"""`manage.py runworkers`: the worker pool that ingests trades from Kafka into ClickHouse."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from trademonitor.kafka import ensure_topic
from workers.consumer import JobSpec, WorkerOptions
from workers.supervisor import Supervisor


class Command(BaseCommand):
    help = "Run the supervisor and N worker processes: Kafka → ClickHouse, with deltas to the dashboard."

    def add_arguments(self, parser):
        parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
        parser.add_argument("--group", default="trade-monitor", help="Kafka consumer group")
        parser.add_argument("--topic", default=settings.KAFKA_TOPIC)
        parser.add_argument("--max-batch-rows", type=int, default=50_000)
        parser.add_argument("--max-batch-ms", type=int, default=200)
        parser.add_argument("--drain-seconds", type=float, default=20.0,
                            help="how long workers get to flush and commit on shutdown")
        parser.add_argument("--heartbeat-timeout", type=float, default=30.0,
                            help="seconds without a heartbeat before a worker counts as hung and is replaced")
        parser.add_argument("--metrics-port", type=int, default=settings.WORKERS_METRICS_PORT,
                            help="Prometheus metrics and /healthz (0: any free port)")

    def handle(self, *args, processes, group, topic, max_batch_rows, max_batch_ms, drain_seconds, metrics_port,
               heartbeat_timeout, **options):
        if processes < 1 or max_batch_rows < 1 or max_batch_ms < 1:
            raise CommandError("--processes, --max-batch-rows and --max-batch-ms must be positive")
        ensure_topic(topic, settings.KAFKA_TOPIC_PARTITIONS)
        ensure_topic(f"{topic}.dlq", settings.KAFKA_TOPIC_PARTITIONS)
        worker_options = WorkerOptions(slot=0, group=group, max_batch_rows=max_batch_rows,
                                       max_batch_ms=max_batch_ms, drain_seconds=drain_seconds)
        job = JobSpec("workers.ingest.IngestJob", (("topic", topic),))
        supervisor = Supervisor(job, "ingest", processes, worker_options, metrics_port, heartbeat_timeout)
        code = supervisor.run()
        if code:
            raise CommandError(f"worker pool stopped with status {code}", returncode=code)
