"""A throw-away ClickHouse database with the project's schema, for benchmarks."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from django.conf import settings

from clickhouse.connection import client_settings
from clickhouse.migrate import Migrator

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def scratch_database(prefix: str = "bench", keep: bool = False) -> Iterator[tuple[str, Client, Client]]:
    """(name, writer, read-only reader) on a fresh migrated database (the cluster form when
    CLICKHOUSE_CLUSTER is set), dropped afterwards unless `keep`."""
    name = f"trademonitor_{prefix}_{uuid.uuid4().hex[:10]}"  # the read users' grant: trademonitor*
    cluster = settings.CLICKHOUSE_CLUSTER
    Migrator(settings.CLICKHOUSE_URL, name, cluster=cluster).apply()
    try:
        writer = clickhouse_connect.get_client(**client_settings(settings.CLICKHOUSE_URL, database=name))
        reader = clickhouse_connect.get_client(**client_settings(settings.CLICKHOUSE_READONLY_URL, database=name))
        yield name, writer, reader
    finally:
        if keep:
            logger.info("kept scratch database %s", name)
        else:
            admin = clickhouse_connect.get_client(**client_settings(settings.CLICKHOUSE_URL, database="default"))
            admin.command(f"DROP DATABASE IF EXISTS {name}{f' ON CLUSTER {cluster}' if cluster else ''} SYNC")
            logger.info("dropped scratch database %s", name)


@contextlib.contextmanager
def scratch_django_database() -> Iterator[str]:
    """A DATABASE_URL of a fresh SQLite file with the bundled symbols loaded, for a pool
    and daphne of a benchmark: their worker status and symbols stay out of the operator's
    database (trademonitor.symbols.bundled_universe() is what such a database trades)."""
    with tempfile.TemporaryDirectory(prefix="trademonitor-bench-") as directory:
        url = f"sqlite:///{directory}/db.sqlite3"
        for command in (["migrate", "-v", "0"], ["loadsymbols"]):
            subprocess.run([sys.executable, "manage.py", *command], cwd=settings.BASE_DIR,
                           env={**os.environ, "DATABASE_URL": url}, check=True, capture_output=True)
        yield url
