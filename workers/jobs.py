"""Jobs: what a worker does with the messages it consumes.

The pool (supervisor, consumer loop, batching, dead letters, exactly-once
commits) is the same for every job; a job supplies only its own steps. A job is
a class constructed with `topic=` (the topic it reads) that has:

    name                                the job's name (metrics, status, consumer group)
    topics                              the topics it consumes
    parse(message, now_ms)              one message -> a row, or a workers.validation.Rejection
    write(client, batch)                the batch's rows into ClickHouse, as one deduplicated
                                        insert (batch.deduplication_token(name))
    resume_positions(client)            {(topic, partition): next offset} as ClickHouse recorded it
    delta(batch)                        a message for the dashboard, or None
    tick(client, assigned)              optional: a time-driven step, about once a second;
                                        `assigned` is the worker's set of (topic, partition);
                                        returns a message for the dashboard, or None

Optional: `max_processes`, for a job that needs no more workers than that (the
alerts job has one emitter); `reads_messages = False`, for a job that joins the
consumer group only to be assigned partitions (the alerts job: whoever owns
partition 0 emits): its workers pause every partition they are assigned and fetch
nothing.

Register one by name in settings.WORKER_JOBS, or name it by import path:
`manage.py runworkers --job ingest --job myapp.jobs.MyJob`.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from workers.consumer import JobSpec


def job_path(name: str) -> str:
    """The import path of a registered job name, or the name itself when it is a path."""
    path = settings.WORKER_JOBS.get(name, name)
    if "." not in path:
        raise ValueError(f"unknown job {name!r}; registered: {', '.join(sorted(settings.WORKER_JOBS))}")
    return path


def load(name: str, topic: str) -> tuple[JobSpec, type]:
    """(spec the workers build the job from, the job's class); fails early on a bad path."""
    path = job_path(name)
    return JobSpec(path, (("topic", topic),)), import_string(path)


def consumer_group(base: str, job_name: str) -> str:
    """Ingest keeps the base group (the dashboard's watermarks and older commits use it);
    every other job has a group of its own, so each keeps its own offsets."""
    return base if job_name == "ingest" else f"{base}.{job_name}"
