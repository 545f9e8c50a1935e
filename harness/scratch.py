"""A throw-away ClickHouse database with the project's schema, for benchmarks."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from django.conf import settings

from clickhouse.connection import client_settings
from clickhouse.migrate import Migrator

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def scratch_database(prefix: str = "bench") -> Iterator[tuple[str, Client, Client]]:
    """(name, writer, read-only reader) on a fresh migrated database, dropped afterwards."""
    name = f"trademonitor_{prefix}_{uuid.uuid4().hex[:10]}"  # the read users' grant: trademonitor*
    Migrator(settings.CLICKHOUSE_URL, name).apply()
    try:
        writer = clickhouse_connect.get_client(**client_settings(settings.CLICKHOUSE_URL, database=name))
        reader = clickhouse_connect.get_client(**client_settings(settings.CLICKHOUSE_READONLY_URL, database=name))
        yield name, writer, reader
    finally:
        admin = clickhouse_connect.get_client(**client_settings(settings.CLICKHOUSE_URL, database="default"))
        admin.command(f"DROP DATABASE IF EXISTS {name} SYNC")
        logger.info("dropped scratch database %s", name)
