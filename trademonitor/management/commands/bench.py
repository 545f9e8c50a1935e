"""`manage.py bench <name>`: benchmarks that print figures, last line one JSON object."""

import functools
import importlib
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from harness.provenance import measured

# name: (help, benchmark function in benchmarks/, its options as (flag, type, default))
BENCHMARKS: dict[str, tuple[str, str, list[tuple[str, type, int]]]] = {
    "endpoint": ("embedded ClickHouse endpoint vs chdb in-process", "endpoint.run",
                 [("--batch-rows", int, 100_000), ("--batches", int, 20), ("--pings", int, 2000)]),
    "query": ("drill-down, snapshot and candles on N trades", "query.run",
              [("--trades", int, 10_000_000), ("--samples", int, 200), ("--ingest-rate", int, 0)]),
    "ingest": ("the worker pool against a bare consumer", "ingest.run",
               [("--trades", int, 2_000_000), ("--processes", int, 2)]),
    "latency": ("production to WebSocket delta, one client", "live.latency",
                [("--rate", int, 300), ("--seconds", float, 30)]),
    "fanout": ("many WebSocket clients at once", "live.fanout",
               [("--clients", int, 200), ("--rate", int, 5000), ("--seconds", float, 30)]),
    "slowclients": ("WebSocket clients that never read beside one that does: daphne's memory", "live.slowclients",
                    [("--clients", int, 30), ("--rate", int, 5000), ("--seconds", float, 300)]),
    "snapshot": ("many WebSocket clients connecting at once to a loaded database: time to the snapshot",
                 "live.snapshot", [("--trades", int, 10_000_000), ("--clients", int, 50), ("--rounds", int, 10)]),
    "drilldown": ("ClickHouse reads for open drill-downs, many clients", "live.drilldown",
                  [("--clients", int, 200), ("--open-drilldowns", int, 20), ("--symbols", int, 5),
                   ("--rate", int, 5000), ("--seconds", float, 30)]),
    "firstpage": ("a drill-down's first page through daphne on a loaded database, trades flowing beside it",
                  "live.firstpage", [("--trades", int, 10_000_000), ("--rate", int, 5000), ("--seconds", float, 30),
                                     ("--checked", int, 300), ("--clickhouse", int, 0)]),
    "codec": ("the trades insert: clickhouse/native.py against clickhouse-connect's python and rust codecs",
              "codec.run", [("--rows", int, 5_000), ("--batches", int, 200)]),
    "export": ("one symbol's trades as CSV through daphne: time to first and last byte, daphne's memory",
               "export.run", [("--trades", int, 1_100_000)]),
    "ledger": ("the insert-intent ledger on EmbeddedRocksDB against ReplacingMergeTree FINAL", "ledger.run",
               [("--cycles", int, 1000)]),
    "page": ("the dashboard in Chromium for minutes of live trades: its heap, DOM nodes and exactness", "page.run",
             [("--minutes", float, 15), ("--rate", int, 5000), ("--drilldowns", int, 5)]),
    "soak": ("the whole system for minutes: memory, file descriptors, exactness", "soak.run",
             [("--minutes", float, 10), ("--rate", int, 5000), ("--clients", int, 50)]),
}


class Command(BaseCommand):
    help = "Run a benchmark and print its figures; --json prints them as one JSON object on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        subcommands = parser.add_subparsers(dest="benchmark", required=True)
        for name, (description, _function, options) in BENCHMARKS.items():
            sub = subcommands.add_parser(name, help=description)
            for flag, kind, default in options:
                sub.add_argument(flag, type=kind, default=default)
            sub.add_argument("--json", action="store_true", help="print the figures as one JSON object")

    def handle(self, *args: Any, benchmark: str, **options: Any) -> None:
        _description, function, parameters = BENCHMARKS[benchmark]
        module, _, name = function.partition(".")
        run = getattr(importlib.import_module(f"benchmarks.{module}"), name)
        arguments = {flag.lstrip("-").replace("-", "_"): options[flag.lstrip("-").replace("-", "_")]
                     for flag, _kind, _default in parameters}
        # Every published figure records the commit it was measured on, and the machine's speed.
        figures = measured(functools.partial(run, **arguments))
        if options["json"]:
            self.stdout.write(json.dumps(figures))
        else:
            width = max(map(len, figures))
            for key, value in figures.items():
                self.stdout.write(f"{key:<{width}}  {value}")
