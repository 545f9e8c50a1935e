"""`manage.py bench <name>`: benchmarks that print figures, last line one JSON object."""

import json
import logging

from django.core.management.base import BaseCommand

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run a benchmark and print its figures; --json prints them as one JSON object on the last line."

    def add_arguments(self, parser):
        subcommands = parser.add_subparsers(dest="benchmark", required=True)
        endpoint = subcommands.add_parser("endpoint", help="embedded ClickHouse endpoint vs chdb in-process")
        endpoint.add_argument("--batch-rows", type=int, default=100_000)
        endpoint.add_argument("--batches", type=int, default=20)
        endpoint.add_argument("--pings", type=int, default=2000)
        query = subcommands.add_parser("query", help="drill-down, snapshot and candles on N trades")
        query.add_argument("--trades", type=int, default=10_000_000)
        query.add_argument("--samples", type=int, default=200)
        ingest = subcommands.add_parser("ingest", help="the worker pool against a bare consumer")
        ingest.add_argument("--trades", type=int, default=2_000_000)
        ingest.add_argument("--processes", type=int, default=2)
        latency = subcommands.add_parser("latency", help="production to WebSocket delta, one client")
        latency.add_argument("--rate", type=int, default=300)
        latency.add_argument("--seconds", type=float, default=30)
        fanout = subcommands.add_parser("fanout", help="many WebSocket clients at once")
        fanout.add_argument("--clients", type=int, default=200)
        fanout.add_argument("--rate", type=int, default=5000)
        fanout.add_argument("--seconds", type=float, default=30)
        for sub in subcommands.choices.values():
            sub.add_argument("--json", action="store_true", help="print the figures as one JSON object")

    def handle(self, *args, benchmark: str, json: bool, **options):
        if benchmark == "endpoint":
            from benchmarks import endpoint

            figures = endpoint.run(options["batch_rows"], options["batches"], options["pings"])
        elif benchmark == "ingest":
            from benchmarks import ingest

            figures = ingest.run(options["trades"], options["processes"])
        elif benchmark == "latency":
            from benchmarks import live

            figures = live.latency(options["rate"], options["seconds"])
        elif benchmark == "fanout":
            from benchmarks import live

            figures = live.fanout(options["clients"], options["rate"], options["seconds"])
        elif benchmark == "query":
            from benchmarks import query

            figures = query.run(options["trades"], options["samples"])
        self._print(figures, as_json=json)

    def _print(self, figures: dict, as_json: bool) -> None:
        if as_json:
            self.stdout.write(_json_line(figures))
        else:
            width = max(map(len, figures))
            for name, value in figures.items():
                self.stdout.write(f"{name:<{width}}  {value}")


def _json_line(figures: dict) -> str:
    return json.dumps(figures, sort_keys=False)
