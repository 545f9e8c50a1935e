"""`manage.py runworkers`: the worker pool — by default the ingest job (Kafka → ClickHouse)."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clickhouse.connection import shard_hosts
from infra.kafka import ensure_topic
from workers import jobs
from workers.consumer import WorkerOptions
from workers.supervisor import PoolJob, Supervisor


class Command(BaseCommand):
    help = "Run the supervisor and N worker processes per job (default: the ingest job)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--job", action="append", dest="job_names", metavar="NAME",
                            help="a job registered in settings.WORKER_JOBS or an import path; repeatable "
                                 "(default: ingest)")
        parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                            help="worker processes per job (default: the cores, %(default)s)")
        parser.add_argument("--group", default="trade-monitor",
                            help="Kafka consumer group (ingest's; other jobs use GROUP.JOB; default: %(default)s)")
        parser.add_argument("--topic", default=settings.KAFKA_TOPIC,
                            help="the trades topic (default: KAFKA_TOPIC, %(default)s)")
        parser.add_argument("--max-batch-rows", type=int, default=50_000,
                            help="messages a batch holds at most, reading a backlog (default: %(default)s)")
        parser.add_argument("--max-batch-ms", type=int, default=20,
                            help="once caught up, flush a batch this old (the linger; default: %(default)s)")
        parser.add_argument("--min-flush-interval-ms", type=int, default=100,
                            help="once caught up, at least this long between two flushes of a worker (default: %(default)s)")
        parser.add_argument("--drain-seconds", type=float, default=settings.WORKERS_DRAIN_SECONDS,
                            help="how long workers get to flush and commit on shutdown (default: %(default)s)")
        parser.add_argument("--heartbeat-timeout", type=float, default=30.0,
                            help="seconds without a heartbeat before a worker counts as hung and is replaced "
                                 "(default: %(default)s)")
        parser.add_argument("--max-crashes", type=int, default=5,
                            help="worker crashes within 60 s after which the pool gives up (a crash loop; "
                                 "default: %(default)s)")
        parser.add_argument("--metrics-port", type=int, default=settings.WORKERS_METRICS_PORT,
                            help="Prometheus metrics and /healthz (0: any free port; default: %(default)s)")

    def handle(self, *args: Any, job_names: list[str] | None, processes: int, group: str, topic: str,
               max_batch_rows: int, max_batch_ms: int, min_flush_interval_ms: int, drain_seconds: float,
               heartbeat_timeout: float,
               max_crashes: int, metrics_port: int, **options: Any) -> None:
        if processes < 1 or max_batch_rows < 1 or max_batch_ms < 1 or min_flush_interval_ms < 0:
            raise CommandError("--processes, --max-batch-rows and --max-batch-ms must be positive, "
                               "--min-flush-interval-ms not negative")
        try:
            shard_hosts()  # a worker would fail on it at start, again and again
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        ensure_topic(topic, settings.KAFKA_TOPIC_PARTITIONS)
        ensure_topic(f"{topic}.dlq", settings.KAFKA_TOPIC_PARTITIONS)
        pool = []
        for name in job_names or ["ingest"]:
            try:
                spec, job_class = jobs.load(name, topic)
            except (ValueError, ImportError) as exc:
                raise CommandError(str(exc)) from None
            worker_options = WorkerOptions(slot=0, group=jobs.consumer_group(group, job_class.name),
                                           max_batch_rows=max_batch_rows, max_batch_ms=max_batch_ms,
                                           min_flush_interval_ms=jobs.min_flush_interval_ms(
                                               job_class, min_flush_interval_ms),
                                           drain_seconds=drain_seconds)
            job_processes = min(processes, job_class.max_processes or processes)
            pool.append(PoolJob(spec, job_class.name, worker_options, job_processes))
        code = Supervisor(pool, metrics_port, heartbeat_timeout, max_crashes).run()
        if code:
            raise CommandError(f"worker pool stopped with status {code}", returncode=code)
