"""Jobs: what a worker does. The pool (supervisor, consumer loop, batching, dead
letters, exactly-once commits) is the same for every job; a job supplies its steps.

There are two kinds, and a job is exactly one of them:

`ConsumerJob` consumes its topic's messages, batch by batch:
    parse(message, now_ms)      one message -> a row, or a workers.validation.Rejection
    write(client, span)         one partition's rows of a flush into ClickHouse as one insert,
                                one block, deduplicated by span.deduplication_token; `client`
                                is a replica of the partition's shard
    delta(batch)                the flush's message for the dashboard (contract.py), or None
and says, as class attributes, its `delta_group`, its `max_processes` (None: as many as
the pool runs) and whether it `dead_letters` what it rejects. Where each partition
resumes is the pool's business: the insert-intent ledger (workers/ingest.py).

`ElectedJob` is a periodic task that one worker runs: the worker that owns partition 0
of the topic in the job's consumer group. It joins the group for the election only
(its workers pause every partition and fetch nothing):
    tick(client, assigned)      about once a second; `assigned` is the worker's set of
                                (topic, partition); returns a message for the dashboard or None

Register one by name in settings.WORKER_JOBS, or name it by import path:
`manage.py runworkers --job ingest --job myapp.jobs.MyJob`. Each job is constructed
with `topic=`, the topic it reads.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Generic

from clickhouse_connect.driver.client import Client
from confluent_kafka import Message
from django.conf import settings
from django.utils.module_loading import import_string

import contract
from workers.batch import Batch, RowT, Span
from workers.validation import Rejection


class ConsumerJob(ABC, Generic[RowT]):
    name: ClassVar[str]
    delta_group: ClassVar[str]
    max_processes: ClassVar[int | None] = None
    # Whether rejected messages go to `<topic>.dlq`. Several jobs read the same topic and
    # reject the same messages: one of them (ingest) dead-letters, so each bad message is
    # recorded once; the others count their rejects in metrics only.
    dead_letters: ClassVar[bool] = False
    dead_letter_suffix: ClassVar[str] = ".dlq"  # its dead letters go to topic + suffix
    # The least time between two flushes of a caught-up worker of this job, when the pool's
    # (--min-flush-interval-ms) is shorter: a job whose figures need not be fresh to the
    # tenth of a second inserts less often, and leaves ClickHouse to the jobs that must be.
    min_flush_interval_ms: ClassVar[int] = 0

    def __init__(self, topic: str):
        self.topics = [topic]

    @abstractmethod
    def parse(self, message: Message, now_ms: int) -> RowT | Rejection: ...

    @abstractmethod
    def write(self, client: Client, span: Span[RowT]) -> None: ...

    @abstractmethod
    def delta(self, batch: Batch[RowT]) -> contract.Delta | None: ...


class ElectedJob(ABC):
    name: ClassVar[str]
    delta_group: ClassVar[str]
    max_processes: ClassVar[int | None] = 1  # one emitter; more workers would only stand by

    def __init__(self, topic: str):
        self.topics = [topic]

    @abstractmethod
    def tick(self, client: Client, assigned: frozenset[tuple[str, int]]) -> contract.AlertsMessage | None: ...


Job = ConsumerJob[Any] | ElectedJob


@dataclass(frozen=True)
class JobSpec:
    """A job by import path, so a spawned process can build it after setting up Django."""

    path: str
    kwargs: tuple[tuple[str, Any], ...] = ()

    def build(self) -> Job:
        job: Job = import_string(self.path)(**dict(self.kwargs))
        return job


def job_path(name: str) -> str:
    """The import path of a registered job name, or the name itself when it is a path."""
    path = settings.WORKER_JOBS.get(name, name)
    if "." not in path:
        raise ValueError(f"unknown job {name!r}; registered: {', '.join(sorted(settings.WORKER_JOBS))}")
    return path


def load(name: str, topic: str) -> tuple[JobSpec, type[Job]]:
    """(spec the workers build the job from, the job's class); fails early on a bad path or a class
    that is not a job."""
    path = job_path(name)
    job_class = import_string(path)
    if not (isinstance(job_class, type) and issubclass(job_class, (ConsumerJob, ElectedJob))):
        raise ValueError(f"{path} is not a ConsumerJob or an ElectedJob (workers/jobs.py)")
    return JobSpec(path, (("topic", topic),)), job_class


def min_flush_interval_ms(job_class: type[Job], pool_ms: int) -> int:
    """A job's workers' least time between flushes: the pool's, or the job's own when longer."""
    own = job_class.min_flush_interval_ms if issubclass(job_class, ConsumerJob) else 0
    return max(pool_ms, own)


def consumer_group(base: str, job_name: str) -> str:
    """Ingest keeps the base group (the dashboard's watermarks and older commits use it);
    every other job has a group of its own, so each keeps its own offsets."""
    return base if job_name == "ingest" else f"{base}.{job_name}"
