"""`manage.py chmigrate [--plan]`: apply the ClickHouse schema migrations."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clickhouse.connection import database_name
from clickhouse.migrate import MigrationError, Migrator


class Command(BaseCommand):
    help = "Apply the versioned ClickHouse migrations in clickhouse/migrations/ (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--plan", action="store_true", help="show what would run, run nothing")
        parser.add_argument("--database", help="target database (default: the one in CLICKHOUSE_URL)")
        parser.add_argument("--cluster", default=settings.CLICKHOUSE_CLUSTER,
                            help="apply the cluster form ON CLUSTER this cluster (default: CLICKHOUSE_CLUSTER)")
        parser.add_argument("--sql", action="store_true", help="with --plan: print the statements that would run")
        parser.add_argument("--check", action="store_true",
                            help="exit non-zero if any migration is not applied (a pod waits on it before starting)")
        parser.add_argument("--reader", action="store_true",
                            help="with --check: read as CLICKHOUSE_READONLY_URL's user (the web has no writer)")

    def handle(self, *args: Any, plan: bool, database: str | None, cluster: str, sql: bool, check: bool, reader: bool,
               **options: Any) -> None:
        if reader and not check:
            raise CommandError("--reader only goes with --check: applying needs the writer")
        url = settings.CLICKHOUSE_READONLY_URL if reader else settings.CLICKHOUSE_URL
        migrator = Migrator(url, database or database_name(), cluster=cluster)
        try:
            if check:
                missing = [migration.label for migration in migrator.plan()]
                if missing:
                    raise CommandError(f"{migrator.database}: not applied: {', '.join(missing)}")
                return
            if plan:
                pending = migrator.plan()
                for migration in pending:
                    self.stdout.write(f"would apply {migration.label}")
                    for statement in migrator.statements(migration) if sql else []:
                        self.stdout.write(f"{statement};\n")
                if not pending:
                    self.stdout.write(f"{migrator.database}: up to date")
                return
            applied = migrator.apply(lambda m: self.stdout.write(f"applied {m.label}"))
        except MigrationError as exc:
            raise CommandError(str(exc)) from None
        if not applied:
            self.stdout.write(f"{migrator.database}: up to date, nothing applied")
