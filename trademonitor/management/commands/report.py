"""`manage.py report reliability RESULTS`: RELIABILITY.md from the fault suite's results."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from reports import reliability


class Command(BaseCommand):
    help = "Write a report from measured results."

    def add_arguments(self, parser):
        subcommands = parser.add_subparsers(dest="report", required=True)
        sub = subcommands.add_parser("reliability", help="RELIABILITY.md from tests/test_faults.py's JSON lines")
        sub.add_argument("results", type=Path)
        sub.add_argument("--out", type=Path, default=Path("RELIABILITY.md"))

    def handle(self, *args, report: str, results: Path, out: Path, **options):
        if not results.exists():
            raise CommandError(f"{results} does not exist: run the fault suite first (make faults-report)")
        out.write_text(reliability.render(results))
        self.stdout.write(f"wrote {out}")
