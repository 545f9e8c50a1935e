"""Running `manage.py runworkers` as a subprocess against a given topic and database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def start_pool(topic: str, group: str, environment: dict, processes: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "runworkers", "--processes", str(processes), "--topic", topic,
         "--group", group, "--metrics-port", "0", *extra],
        cwd=PROJECT_DIR, env={**os.environ, **environment}, start_new_session=True,
    )


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
