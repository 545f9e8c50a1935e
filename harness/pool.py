"""Running the pool (`manage.py runworkers`) and the web (daphne) as subprocesses
against a given topic and database: for benchmarks and end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

PROJECT_DIR = Path(__file__).resolve().parent.parent


def start_pool(topic: str, group: str, environment: dict, processes: int, *extra: str,
               log: Path | None = None) -> subprocess.Popen:
    """`runworkers` on `topic`; its output goes to `log` if given."""
    output = open(log, "wb") if log else None  # noqa: SIM115 - the child keeps it
    pool = subprocess.Popen(
        [sys.executable, "manage.py", "runworkers", "--processes", str(processes), "--topic", topic,
         "--group", group, "--metrics-port", "0", *extra],
        cwd=PROJECT_DIR, env={**os.environ, **environment}, start_new_session=True,
        stdout=output, stderr=output,
    )
    if output:
        output.close()
    return pool


def stop_pool(pool: subprocess.Popen, timeout: float = 60.0) -> int:
    """SIGTERM (drain), then SIGKILL of the whole process group if it does not exit."""
    if pool.poll() is None:
        pool.send_signal(signal.SIGTERM)
    try:
        return pool.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(pool.pid, signal.SIGKILL)
        return pool.wait(10)


def database_url(url: str, database: str) -> str:
    """`url` with its database (the path) replaced."""
    head, _, query = url.partition("?")
    return head.rsplit("/", 1)[0] + "/" + database + (f"?{query}" if query else "")


def start_web(environment: dict, port: int, timeout: float = 30.0, log: Path | None = None) -> subprocess.Popen:
    """daphne on 127.0.0.1:`port`, returned once /healthz answers; its output goes to `log`."""
    output: IO[bytes] | int = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - the child keeps it
    web = subprocess.Popen(
        [str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port),
         "trademonitor.asgi:application"],
        cwd=PROJECT_DIR, env={**os.environ, **environment}, start_new_session=True,
        stdout=output, stderr=output,
    )
    if not isinstance(output, int):
        output.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return web
        except OSError:
            time.sleep(0.2)
    os.killpg(web.pid, signal.SIGKILL)
    raise RuntimeError("daphne did not start")


def worker_pids(supervisor: int) -> list[int]:
    """The worker processes of a pool (spawned children, not multiprocessing's helpers)."""
    pids = []
    for child in Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split():
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):  # gone, or being reaped (ESRCH) as it is read
            continue
        if b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
            pids.append(int(child))
    return pids


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's resident memory now (VmRSS) or at its peak so far (VmHWM), in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise ProcessLookupError(pid)
