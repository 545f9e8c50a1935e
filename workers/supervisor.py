"""The supervisor of `manage.py runworkers`: N worker processes, kept alive.

It starts each worker (multiprocessing, spawn context), restarts one that dies
with exponential backoff, replaces one whose heartbeat stops, and on SIGTERM or
SIGINT asks all to drain (flush, insert, commit, leave) within a deadline before
killing what remains. Workers that keep crashing make it give up with a non-zero
exit. It writes each worker's status to the WorkerStatus table and serves the
pool's Prometheus metrics.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import socket
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workers.consumer import WorkerOptions
    from workers.jobs import JobSpec

logger = logging.getLogger(__name__)

TICK_SECONDS = 0.2
HEARTBEAT_TIMEOUT = 30.0
CRASH_WINDOW_SECONDS = 60.0
MAX_CRASHES_IN_WINDOW = 5
MAX_BACKOFF_SECONDS = 30.0
HEALTHY_RUN_SECONDS = 60.0  # a worker that ran this long resets its backoff


@dataclass(frozen=True)
class PoolJob:
    """One job of the pool: what runs, under which name, and in how many processes."""

    spec: JobSpec
    name: str
    options: WorkerOptions  # its group is the job's own
    processes: int


@dataclass
class Slot:
    job: PoolJob
    index: int
    heartbeat: Synchronized[float]
    process: BaseProcess | None = None
    started_at: float = 0.0
    next_start: float = 0.0
    backoff: float = 1.0
    restarts: int = 0
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.job.name} worker {self.index}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()


class Supervisor:
    def __init__(self, jobs: list[PoolJob], metrics_port: int | None = None,
                 heartbeat_timeout: float = HEARTBEAT_TIMEOUT, max_crashes: int = MAX_CRASHES_IN_WINDOW):
        self.jobs = jobs
        self.heartbeat_timeout = heartbeat_timeout
        self.max_crashes = max_crashes
        self.metrics_port = metrics_port
        self._context = multiprocessing.get_context("spawn")
        self._stop_workers = self._context.Event()
        self._status_queue = self._context.Queue()
        self._slots = [Slot(job, i, self._context.Value("d", 0.0)) for job in jobs for i in range(job.processes)]
        self._crashes: deque[float] = deque()
        self._shutdown = threading.Event()
        self._host = socket.gethostname()

    # -- lifecycle -------------------------------------------------------------------------
    def run(self) -> int:
        _prepare_metrics_dir()
        from workers import metrics  # after the multiprocess directory is set

        self._restarts = metrics.RESTARTS
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self._shutdown.set())
        http = self._serve_metrics() if self.metrics_port is not None else None
        logger.info("starting workers: %s", ", ".join(f"{job.processes} {job.name}" for job in self.jobs))
        code = 0
        try:
            while not self._shutdown.is_set():
                code = self._tick()
                if code:
                    break
                self._shutdown.wait(TICK_SECONDS)
        finally:
            self._drain()
            if http:
                http.shutdown()
        return code

    def _tick(self) -> int:
        self._read_statuses()
        now = time.monotonic()
        for slot in self._slots:
            process = slot.process
            if process is not None and not process.is_alive():
                code = self._reap(slot, process, now)
                if code:
                    return code
            elif process is not None and time.time() - slot.heartbeat.value > self.heartbeat_timeout:
                logger.error("%s (pid %s) missed its heartbeat for %.0f s; killing it",
                             slot.label, process.pid, self.heartbeat_timeout)
                process.kill()
            if slot.process is None and now >= slot.next_start:
                self._start(slot)
        self._write_statuses()
        return 0

    def _start(self, slot: Slot) -> None:
        from workers.consumer import run_worker

        slot.heartbeat.value = time.time()
        options = replace(slot.job.options, slot=slot.index, instance_prefix=f"{self._host}-{os.getpid()}")
        process = self._context.Process(
            target=run_worker, name=f"{slot.job.name}-worker-{slot.index}",
            args=(slot.job.spec, options, slot.heartbeat, self._stop_workers, self._status_queue),
        )
        process.start()
        slot.process = process
        slot.started_at = time.monotonic()
        logger.info("%s started (pid %s)", slot.label, process.pid)

    def _reap(self, slot: Slot, process: BaseProcess, now: float) -> int:
        from workers.consumer import EXIT_FATAL

        code = process.exitcode
        slot.process = None
        if code == EXIT_FATAL:
            logger.error("%s stopped on an error that a restart cannot fix; stopping the pool", slot.label)
            return 2
        self._crashes.append(now)
        while self._crashes and now - self._crashes[0] > CRASH_WINDOW_SECONDS:
            self._crashes.popleft()
        if len(self._crashes) > self.max_crashes:
            logger.error("%d worker crashes within %.0f s; giving up", len(self._crashes), CRASH_WINDOW_SECONDS)
            return 1
        if now - slot.started_at > HEALTHY_RUN_SECONDS:
            slot.backoff = 1.0
        slot.next_start = now + slot.backoff
        logger.warning("%s exited with %s; restarting in %.0f s", slot.label, code, slot.backoff)
        slot.backoff = min(slot.backoff * 2, MAX_BACKOFF_SECONDS)
        slot.restarts += 1
        self._restarts.labels(job=slot.job.name).inc()
        return 0

    def _drain(self) -> None:
        """Ask every worker to flush and commit, then kill whatever is left at the deadline."""
        self._stop_workers.set()
        deadline = time.monotonic() + max(job.options.drain_seconds for job in self.jobs) + 5
        for slot in self._slots:
            if slot.process is not None:
                slot.process.join(max(0.0, deadline - time.monotonic()))
                if slot.process.is_alive():
                    logger.error("%s did not drain in time; killing it", slot.label)
                    slot.process.kill()
                    slot.process.join(5)
        self._read_statuses()
        for slot in self._slots:
            slot.process = None
        self._write_statuses(force=True)
        logger.info("all workers stopped")

    # -- status --------------------------------------------------------------------------------
    def _read_statuses(self) -> None:
        while True:
            try:
                status = self._status_queue.get_nowait()
            except Exception:  # noqa: BLE001 - queue.Empty, or a queue broken by a killed worker
                return
            for slot in self._slots:
                if (slot.job.name, slot.index) == (status.get("job"), status.get("slot")):
                    slot.status = status

    _last_write = 0.0

    def _write_statuses(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._last_write < 1.0:
            return
        self._last_write = time.monotonic()
        from django.db import DatabaseError

        try:
            self._save_statuses()
        except DatabaseError as exc:
            # Status is for operators; a busy or absent database must not stop ingestion.
            logger.warning("could not write worker status: %s", exc)

    def _save_statuses(self) -> None:
        from trademonitor.models import WorkerStatus

        for slot in self._slots:
            status = slot.status
            state = "running" if slot.alive else ("stopped" if self._stop_workers.is_set() else "restarting")
            WorkerStatus.objects.update_or_create(
                host=self._host, job=slot.job.name, slot=slot.index,
                defaults={
                    "state": state,
                    "pid": slot.process.pid if slot.process is not None and slot.alive else None,
                    "partitions": ",".join(status.get("partitions", []))[:512],
                    "last_heartbeat": datetime.fromtimestamp(slot.heartbeat.value, UTC)
                    if slot.heartbeat.value else None,
                    "consumed": status.get("consumed", 0),
                    "inserted": status.get("inserted", 0),
                    "dead_lettered": status.get("dead_lettered", 0),
                    "lag": sum(status.get("lag", {}).values()),
                    "restarts": slot.restarts,
                },
            )

    # -- metrics and health ----------------------------------------------------------------------
    def _serve_metrics(self) -> ThreadingHTTPServer:
        supervisor = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/healthz"):
                    alive = sum(slot.alive for slot in supervisor._slots)
                    body = json.dumps({"workers": len(supervisor._slots), "alive": alive}).encode()
                    self._send(200 if alive else 503, body, "application/json")
                elif self.path.startswith("/metrics"):
                    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
                    from prometheus_client.multiprocess import MultiProcessCollector

                    registry = CollectorRegistry()
                    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
                    self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("0.0.0.0", self.metrics_port or 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True, name="metrics").start()
        logger.info("metrics on http://0.0.0.0:%d/metrics, health on /healthz", server.server_address[1])
        return server


def _prepare_metrics_dir() -> None:
    """A directory for this pool's samples, in the environment workers inherit, holding
    none of an earlier pool's (prometheus_client would add them to this pool's counts).

    Only the sample files (`*.db`) are removed: a directory given by mistake, a home
    or /tmp, keeps everything else."""
    directory = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="trademonitor-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for samples in directory.glob("*.db"):
        samples.unlink(missing_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
