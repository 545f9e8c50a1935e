"""`manage.py producetrades`: synthetic trades for the real NASDAQ universe, onto Kafka."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from infra.kafka import ensure_topic
from producer.publisher import TradePublisher
from producer.trades import TradeGenerator
from trademonitor.symbols import trading_universe


class Command(BaseCommand):
    help = "Write synthetic trades for the loaded NASDAQ symbols to Kafka."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rate", type=float, default=300,
                            help="trades per second; 0 = as fast as possible (default: %(default)s)")
        parser.add_argument("--count", type=int, help="stop after N trades (default: run until stopped)")
        parser.add_argument("--topic", default=settings.KAFKA_TOPIC, help="default: KAFKA_TOPIC, %(default)s")
        parser.add_argument("--seed", type=int, help="reproduce the same stream of trades")
        parser.add_argument("--symbols", help="comma-separated symbols to limit the universe to")
        parser.add_argument("--bad-ratio", type=float, default=0.0,
                            help="fraction of malformed messages to mix in (dead-letter testing)")
        parser.add_argument("--alive-file", type=Path,
                            help="touched whenever trades go out: a liveness probe checks its age")

    def handle(self, *args: Any, rate: float, count: int | None, topic: str, seed: int | None, symbols: str | None,
               bad_ratio: float, alive_file: Path | None, **options: Any) -> None:
        if rate < 0 or not 0 <= bad_ratio <= 1 or (count is not None and count < 0):
            raise CommandError("--rate and --count must be >= 0 and --bad-ratio between 0 and 1")
        universe = trading_universe(symbols.split(",") if symbols else None)
        if not universe:
            raise CommandError("no symbols to trade: run `manage.py loadsymbols` (or check --symbols)")
        ensure_topic(topic, settings.KAFKA_TOPIC_PARTITIONS)
        publisher = TradePublisher(topic, TradeGenerator(universe, seed), rate, bad_ratio, seed)

        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        with tqdm(total=count, unit="trades", unit_scale=True, disable=count is None or not sys.stdout.isatty()) as bar:
            def progress(trades: int) -> None:
                bar.update(trades)
                if alive_file is not None:
                    alive_file.touch()  # no trades go out while Kafka refuses them: the file ages

            report = publisher.run(count, stop, on_progress=progress)

        self.stdout.write(
            f"produced {report.produced} trades to {topic} in {report.seconds:.2f} s "
            f"({report.rate:,.0f}/s), {report.failed} delivery failures"
            + (f", malformed: {dict(report.bad_by_kind)}" if report.bad_by_kind else "")
        )
        if report.failed:
            raise CommandError(f"{report.failed} trades were not delivered")
