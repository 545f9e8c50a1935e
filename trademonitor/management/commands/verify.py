"""`manage.py verify --trades N`: check exactly-once on the services configured here."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clickhouse import connection
from harness import verify
from harness.provenance import provenance


class Command(BaseCommand):
    help = ("Produce N trades to a scratch topic, run the workers on a scratch database, kill them "
            "mid-flush, and compare what ClickHouse stored with what was produced.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--trades", type=int, default=200_000)
        parser.add_argument("--processes", type=int, default=2)
        parser.add_argument("--kills", type=int, default=3, help="times to kill the workers mid-flush")
        parser.add_argument("--max-batch-rows", type=int, default=verify.MAX_BATCH_ROWS,
                            help="the pool's batch bound: a backlog in several flushes, each one to kill in "
                                 "(default: %(default)s)")
        parser.add_argument("--timeout", type=float, default=600, help="seconds for the whole run")
        parser.add_argument("--keep", action="store_true", help="keep the scratch topic and database")
        parser.add_argument("--stored", action="store_true",
                            help="produce nothing: check that the configured database's totals, candles and "
                                 "sentiment counts agree with the rows they are kept from (run it with the "
                                 "workers stopped; a flush in progress shows as a difference)")

    def handle(self, *args: Any, trades: int, processes: int, kills: int, max_batch_rows: int, timeout: float,
               keep: bool, stored: bool, **options: Any) -> None:
        if stored:
            return self.check_stored()
        if trades < 1 or processes < 1 or max_batch_rows < 1 or kills < 0:
            raise CommandError("--trades, --processes and --max-batch-rows must be positive, --kills not negative")
        report = verify.run(trades, processes, kills, timeout, keep, max_batch_rows)
        if report.kills < kills:
            self.stderr.write(f"only {report.kills} of {kills} kills: ingest committed everything before another "
                              "flush began (fewer --max-batch-rows, or more --trades, make more flushes)")
        self.stdout.write(f"produced {report.trades:,} trades; workers killed mid-flush {report.kills} times, "
                          f"{report.replays} pending ranges replayed; all committed in {report.seconds} s")
        for partition, where in report.resume_positions.items():
            self.stdout.write(f"partition {partition}: {where}")
        self.stdout.write(f"measured on {provenance()['commit']}")
        if not report.exact:
            for difference in report.differences:
                self.stdout.write(f"DIFFERENT: {difference}")
            raise CommandError("ClickHouse does not hold exactly what was produced")
        self.stdout.write("exact: ids, per-symbol trades, shares, volume, candles and sentiment match what was "
                          "produced, and the totals agree with the trades")

    def check_stored(self) -> None:
        """The configured database's views against their sources, read as the read-only user."""
        client = connection.reader()
        differences = verify.stored_differences(client)
        for difference in differences:
            self.stdout.write(f"DIFFERENT: {difference}")
        if differences:
            raise CommandError(f"{len(differences)} differences between the views' tables and their sources")
        self.stdout.write(f"agree: symbol_totals and candles_1m with trades, symbol_sentiment with trade_sentiment "
                          f"(database {client.database})")
