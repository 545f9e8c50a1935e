"""Versioned ClickHouse schema migrations.

Migrations are plain `.sql` files in `clickhouse/migrations/`, named
`NNNN_description.sql` and applied in order. Each applied version is recorded
with the SHA-256 of its file in the database's `schema_migrations` table, so a
second run applies nothing, and a run refuses to start when a file that was
applied has since changed (fix forward with a new file instead).

Statements run with the target database as the current one, so files use
unqualified names and the same files build scratch databases for tests and
benchmarks. Every statement is written to be idempotent (`IF NOT EXISTS`): a
migration that failed halfway is simply run again.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from clickhouse import cluster
from clickhouse.connection import client_settings
from clickhouse.errors import UNKNOWN_DATABASE, UNKNOWN_TABLE

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
LEDGER = "schema_migrations"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_STATEMENT_END = re.compile(r";[ \t]*(?:\r?\n|$)")


class MigrationError(Exception):
    """The migrations cannot run as they stand; the message says why."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version}_{self.name}"

    def statements(self) -> list[str]:
        """The file's statements, split at semicolons that end a line."""
        return [statement.strip() for statement in _STATEMENT_END.split(self.sql) if _has_code(statement)]


def _has_code(sql: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in sql.splitlines())


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_description.sql")
        migrations.append(Migration(match.group(1), match.group(2), path.read_text()))
    versions = [migration.version for migration in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version number: {versions}")
    return migrations


class Migrator:
    """Applies `migrations` to `database` as the read-write user of `url`."""

    def __init__(self, url: str, database: str, migrations: list[Migration] | None = None, cluster: str = ""):
        self.url = url
        self.database = database
        self.migrations = discover() if migrations is None else migrations
        self.cluster = cluster

    @functools.cached_property
    def client(self) -> Client:
        # Connected to `default` until the target database exists.
        return clickhouse_connect.get_client(**client_settings(self.url, database="default"))

    def statements(self, migration: Migration) -> list[str]:
        """What runs for `migration`: its statements, or their cluster form (clickhouse/cluster.py)."""
        if not self.cluster:
            return migration.statements()
        try:
            return [sql for statement in migration.statements()
                    for sql in cluster.translate(statement, self.cluster, self.database)]
        except cluster.UnsupportedStatement as exc:
            raise MigrationError(f"{migration.label}.sql: {exc}") from None

    def applied(self) -> dict[str, str]:
        """Applied version -> checksum recorded when it was applied. Read from the ledger
        itself, not system.tables, so a read-only user can check (`chmigrate --check --reader`)."""
        try:
            rows = self.client.query(
                f"SELECT version, argMax(checksum, applied_at) FROM {self._ledger} GROUP BY version"
            ).result_rows
        except DatabaseError as exc:
            if exc.code in (UNKNOWN_TABLE, UNKNOWN_DATABASE):
                return {}  # nothing applied yet
            raise
        return {str(version): str(checksum) for version, checksum in rows}

    def plan(self) -> list[Migration]:
        """The migrations still to apply; refuses if an applied file has changed or gone."""
        applied = self.applied()
        on_disk = {migration.version: migration for migration in self.migrations}
        for version, checksum in sorted(applied.items()):
            migration = on_disk.get(version)
            if migration is None:
                raise MigrationError(f"migration {version} was applied to {self.database} but its file is gone")
            if migration.checksum != checksum:
                raise MigrationError(
                    f"{migration.label}.sql has changed since it was applied to {self.database}; "
                    "add a new migration instead of editing an applied one"
                )
        return [migration for migration in self.migrations if migration.version not in applied]

    def apply(self, on_applied: Callable[[Migration], object] = lambda migration: None) -> list[Migration]:
        on_cluster = f" ON CLUSTER {self.cluster}" if self.cluster else ""
        # On a cluster the ledger lives on the node chmigrate talks to; every
        # statement is idempotent, so another node applying them again is harmless.
        self.client.command(f"CREATE DATABASE IF NOT EXISTS {self._quoted_database}{on_cluster}")
        pending = self.plan()
        if pending:
            self.client.command(f"""
                CREATE TABLE IF NOT EXISTS {self._ledger} (
                    version String, name String, checksum String,
                    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
                ) ENGINE = MergeTree ORDER BY version""")
        target = clickhouse_connect.get_client(**client_settings(self.url, database=self.database))
        for migration in pending:
            for statement in self.statements(migration):
                target.command(statement)
            # A command, not `client.insert`, which imports pandas and pyarrow on first use.
            target.command(f"INSERT INTO {LEDGER} (version, name, checksum)"
                           " SELECT {version:String}, {name:String}, {checksum:String}",
                           parameters={"version": migration.version, "name": migration.name,
                                       "checksum": migration.checksum})
            on_applied(migration)
        return pending

    @property
    def _quoted_database(self) -> str:
        return "`" + self.database.replace("`", "``") + "`"

    @property
    def _ledger(self) -> str:
        return f"{self._quoted_database}.{LEDGER}"
