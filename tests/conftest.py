"""Shared fixtures. Integration tests talk to the real services that
`manage.py devservices up` starts (`make test` does that first)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import clickhouse_connect
import pytest
from django.conf import settings

from clickhouse.connection import client_settings
from trademonitor.symbols import BUNDLED_FILE
from trademonitor.symbols import parse as parse_symbols

# Fixtures of their own modules: the browser tests' site, and a migrated scratch schema.
pytest_plugins = ["tests.browser", "tests.trades_data"]

PROJECT_DIR = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT_DIR.parent / "shared" / "data"


BUNDLED_SYMBOLS = [s.symbol for s in parse_symbols(BUNDLED_FILE.read_text().splitlines()).symbols]


@pytest.fixture(scope="session")
def symbol_db(tmp_path_factory):
    """A Django database of the test's subprocesses, with the bundled NASDAQ symbols loaded."""
    path = tmp_path_factory.mktemp("symbols") / "db.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{path}"}
    for command in (["migrate", "-v", "0"], ["loadsymbols"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=PROJECT_DIR, env=env, check=True,
                       capture_output=True)
    return str(path)


@pytest.fixture(scope="session")
def services():
    """Fail fast, with the fix, when the services are not running."""
    from devservices.services import configured_services

    down = [service.name for service in configured_services() if not service.healthy()]
    if down:
        pytest.fail(f"services not running: {', '.join(down)}; run `python manage.py devservices up`")


@pytest.fixture
def scratch_database(services):
    """A ClickHouse database of the test's own, dropped afterwards."""
    name = f"trademonitor_test_{uuid.uuid4().hex[:12]}"  # the read users' grant: trademonitor*
    admin = clickhouse_connect.get_client(**client_settings(settings.CLICKHOUSE_URL, database="default"))
    admin.command(f"CREATE DATABASE {name}")
    yield name
    admin.command(f"DROP DATABASE IF EXISTS {name} SYNC")


@pytest.fixture
def ch(scratch_database):
    """A read-write clickhouse-connect client on the scratch database."""
    return clickhouse_connect.get_client(**client_settings(settings.CLICKHOUSE_URL, database=scratch_database))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EndpointProcess:
    """An embedded ClickHouse endpoint of the test's own, to stop and restart."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://default:@127.0.0.1:{self.port}/default"

    def start(self) -> None:
        env = {**os.environ, "CHENDPOINT_USERS": "default:", "CHENDPOINT_READONLY_USERS": "reader:secret",
               "CLICKHOUSE_PANEL_PASSWORD": "panel-secret"}  # users.xml's SQL panel user
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devservices.chendpoint", "--port", str(self.port), "--data-dir", str(self.data_dir)],
            cwd=PROJECT_DIR, env=env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ping", timeout=1) as response:
                    if response.read() == b"Ok.\n":
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("endpoint did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


@pytest.fixture
def endpoint(tmp_path):
    process = EndpointProcess(tmp_path / "clickhouse")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def pipeline(services, symbol_db):
    """A pipeline of the test's own: topic, consumer group, scratch ClickHouse database."""
    from tests.pipeline import Pipeline

    pipeline = Pipeline(symbol_db)
    yield pipeline
    pipeline.close()
