"""`manage.py report reliability RESULTS` and `manage.py report benchmarks [--run]`:
RELIABILITY.md from the fault suite's results, BENCHMARKS.md (with plots) from the
benchmarks' figures in docs/benchmarks/."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from reports import benchmarks, reliability


class Command(BaseCommand):
    help = "Write a report from measured results."

    def add_arguments(self, parser: CommandParser) -> None:
        subcommands = parser.add_subparsers(dest="report", required=True)
        sub = subcommands.add_parser("reliability", help="RELIABILITY.md from tests/test_faults.py's JSON lines")
        sub.add_argument("results", type=Path)
        sub.add_argument("--out", type=Path, default=settings.BASE_DIR / "RELIABILITY.md")
        sub = subcommands.add_parser("benchmarks", help="BENCHMARKS.md from docs/benchmarks/*.json")
        sub.add_argument("--run", action="store_true", help="first run every benchmark at its documented size "
                                                            "(about 22 minutes on 2 cores)")
        sub.add_argument("--only", action="append", choices=sorted(benchmarks.SUITE), metavar="NAME",
                         help="with --run, run only this benchmark of the suite (repeatable); "
                              "the others' figures are kept")
        sub.add_argument("--figures", type=Path, default=settings.BASE_DIR / "docs" / "benchmarks")
        sub.add_argument("--out", type=Path, default=settings.BASE_DIR / "BENCHMARKS.md")

    def handle(self, *args: Any, report: str, out: Path, **options: Any) -> None:
        if report == "reliability":
            results = options["results"]
            if not results.exists():
                raise CommandError(f"{results} does not exist: run the fault suite first (make faults-report)")
            out.write_text(reliability.render(results))
        else:
            if options["run"]:
                benchmarks.run_suite(options["figures"], only=options["only"])
            out.write_text(benchmarks.render(options["figures"]))
        self.stdout.write(f"wrote {out}")
