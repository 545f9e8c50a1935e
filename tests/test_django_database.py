"""Django's own database: the SQLite file that the supervisors, the workers and the web
share in development, and PostgreSQL in production."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.db import OperationalError, connections, transaction
from django.db.backends.sqlite3.base import DatabaseWrapper

from harness.pool import start_web
from tests.conftest import free_port
from tests.deployment import manage


@pytest.fixture
def shared_file(tmp_path, django_db_blocker):
    """A connection made from the project's settings to a SQLite file of its own, under
    the alias `shared` (transaction.atomic names it), and the file's path. Not the test
    database: each test makes its own table."""
    path = tmp_path / "shared.sqlite3"
    settings_dict = dict(connections["default"].settings_dict, NAME=str(path))
    settings_dict["OPTIONS"] = {**settings_dict["OPTIONS"], "timeout": 0.2}  # fail fast instead of waiting 20 s
    connection = DatabaseWrapper(settings_dict, alias="shared")
    connections["shared"] = connection
    try:
        with django_db_blocker.unblock():
            yield connection, path
    finally:
        connection.close()
        del connections["shared"]


def test_a_transaction_takes_the_write_lock_as_it_begins(shared_file):
    """The alerts worker's update_or_create began as a read. Upgraded to a write while
    another process committed, SQLite answered "database is locked" at once, without
    waiting (that wait could deadlock), and the worker died. A transaction that takes the
    write lock when it begins waits for it instead, or fails there, before reading."""
    connection, path = shared_file
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE alert (window_start INTEGER PRIMARY KEY, volume INTEGER)")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(OperationalError, match="locked"), transaction.atomic(using="shared"):
            pass
        other.execute("COMMIT")
        with transaction.atomic(using="shared"), connection.cursor() as cursor:
            cursor.execute("INSERT INTO alert VALUES (1, 100)")
        assert other.execute("SELECT volume FROM alert").fetchall() == [(100,)]
    finally:
        other.close()


def test_a_read_does_not_wait_for_a_write_being_committed(shared_file):
    """Write-ahead logging: the web's reads (a symbol's existence for every API request)
    go on while a supervisor writes its workers' status."""
    connection, path = shared_file
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE status (worker INTEGER PRIMARY KEY, lag INTEGER)")
        cursor.execute("INSERT INTO status VALUES (0, 5)")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")  # in the rollback journal's mode, this shuts readers out
        other.execute("UPDATE status SET lag = 7")
        with connection.cursor() as cursor:
            cursor.execute("SELECT lag FROM status")
            assert cursor.fetchall() == [(5,)]  # the last committed value, at once
        other.execute("COMMIT")
    finally:
        other.close()


def postgres_program(name: str) -> str:
    """A PostgreSQL server program: on the PATH, or where Debian's postgresql package puts it."""
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)), None)
    assert found, f"{name} not found: install Debian's postgresql package (devservices/install-system-packages.sh)"
    return str(found)


class PostgresServer:
    """A PostgreSQL server of a test's own, in a directory of its own, on a free port."""

    def __init__(self, directory: Path):
        self.directory, self.data, self.log = directory, directory / "data", directory / "server.log"
        self.port = free_port()
        self.url = f"postgres://trademonitor@127.0.0.1:{self.port}/trademonitor"
        self.admin_url = f"postgresql://trademonitor@127.0.0.1:{self.port}/postgres"
        self.as_owner: list[str] = []
        if os.geteuid() == 0:  # the server refuses to run as root
            shutil.chown(directory, "postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        self.process: subprocess.Popen | None = None

    def create(self) -> None:
        subprocess.run([*self.as_owner, postgres_program("initdb"), "-D", str(self.data), "-A", "trust",
                        "-U", "trademonitor", "--no-sync"], check=True, capture_output=True)
        self.start()
        with connect_when_up(self.admin_url) as admin:
            admin.execute("CREATE DATABASE trademonitor")

    def start(self) -> None:
        """Returns once the server accepts connections. Its log has a line for every session opened."""
        with open(self.log, "ab") as output:
            self.process = subprocess.Popen(
                [*self.as_owner, postgres_program("postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-k", str(self.directory), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                 "-c", "log_connections=on"], stdout=output, stderr=output)
        connect_when_up(self.admin_url).close()

    def stop(self) -> None:
        if self.process is not None:
            subprocess.run([*self.as_owner, postgres_program("pg_ctl"), "stop", "-D", str(self.data), "-m", "fast"],
                           capture_output=True, timeout=60)
            self.process.wait(30)
            self.process = None

    def sessions_opened(self) -> int:
        return self.log.read_text().count("connection authorized: user=trademonitor database=trademonitor")


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the test's own with an empty database `trademonitor`."""
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="tm-postgres-")))
    try:
        server.create()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.directory)


def connect_when_up(url: str, timeout: float = 30.0) -> psycopg.Connection:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return psycopg.connect(url, autocommit=True)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_web_requests_share_pooled_postgresql_connections(postgres):
    """Under daphne each request runs on a thread of its own, and Django connected for every
    one: a PostgreSQL session a request (design.md). Pooled, requests share the pool's few;
    after the server restarted, the pool's dead connections are not handed out."""
    environment = {"DATABASE_URL": postgres.url, "DATABASE_POOL_SIZE": "2", "API_RATE_LIMIT": "1000000/m"}
    migrated = manage("migrate", "--noinput", environment=environment)
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    web = start_web(environment, port)
    try:
        before = postgres.sessions_opened()
        for _ in range(100):
            assert_not_listed(port, "NOSUCH")
        opened = postgres.sessions_opened() - before
        postgres.stop()
        postgres.start()
        for _ in range(3):
            assert_not_listed(port, "NOSUCH")
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(30)
    assert opened <= 2, f"{opened} sessions opened for 100 requests"  # DATABASE_POOL_SIZE


def assert_not_listed(port: int, symbol: str) -> None:
    """A 404: the symbol was looked up in Django's database (a 500 if the lookup failed)."""
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/symbols/{symbol}/trades", timeout=10)
    assert answer.value.code == 404
