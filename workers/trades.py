"""Messages of the trades topic as rows, for every job that reads it (composed, not inherited)."""

from __future__ import annotations

import logging
import time

from confluent_kafka import Message

from trademonitor.models import Symbol
from workers.validation import Rejection, TradeRules, parse

logger = logging.getLogger(__name__)

SYMBOL_REFRESH_SECONDS = 60
LOG_EVERY = 100_000

# A trade row: (id, epoch ms, symbol, price cents, quantity, partition, offset), the
# trades insert's columns in order (clickhouse.writer.TRADE_COLUMNS). A plain tuple: a
# NamedTuple, made for every message and read by name, slowed the replay down
# (docs/benchmarks/design.md). Typed, so mypy checks every unpacking of one.
TradeRow = tuple[str, int, str, int, int, int, int]


class TradeParser:
    """Validates a message into a TradeRow or a Rejection, against the known symbols,
    re-read now and then so new listings are accepted (unless `rules` fix them)."""

    def __init__(self, rules: TradeRules | None = None):
        self._rules = rules
        self._fixed_rules = rules is not None
        self._rules_loaded = 0.0
        self._parsed = 0
        self.future_dated = 0
        self._last_skew_warning = 0.0

    def __call__(self, message: Message, now_ms: int) -> TradeRow | Rejection:
        rules = self.rules()
        outcome = parse(message.key(), message.value(), rules, now_ms)
        if isinstance(outcome, Rejection):
            return outcome
        self._parsed += 1
        if self._parsed == 1 or self._parsed % LOG_EVERY == 0:
            logger.info("trade %d: %s", self._parsed, outcome)
        trade_id, timestamp, symbol, price, quantity = outcome
        if timestamp > now_ms + rules.skew_ms:
            self._future_dated(timestamp - now_ms)
        return trade_id, timestamp, symbol, price, quantity, message.partition() or 0, message.offset() or 0

    def _future_dated(self, ahead_ms: int) -> None:
        """Stored, but counted and said: a producer's clock runs ahead."""
        from workers import metrics  # in the worker process, after the metrics directory is set

        self.future_dated += 1
        metrics.FUTURE_DATED.inc()
        if time.monotonic() - self._last_skew_warning > 60:
            self._last_skew_warning = time.monotonic()
            logger.warning("%d trades dated in the future so far, the last %.1f min ahead: a producer's clock "
                           "runs fast (stored all the same)", self.future_dated, ahead_ms / 60_000)

    def rules(self) -> TradeRules:
        if not self._fixed_rules and (
            self._rules is None or time.monotonic() - self._rules_loaded > SYMBOL_REFRESH_SECONDS
        ):
            symbols = frozenset(Symbol.objects.values_list("symbol", flat=True))
            self._rules = TradeRules(symbols=symbols)
            self._rules_loaded = time.monotonic()
        assert self._rules is not None
        return self._rules


def offset_spans(rows: list[TradeRow]) -> dict[str, list[int]]:
    """Per partition, [first, last] offset of a batch's trades. A batch holds each
    partition's messages in the order they were consumed, offsets rising, so the
    dicts keep the ends."""
    positions = [(row[5], row[6]) for row in rows]
    firsts, lasts = dict(reversed(positions)), dict(positions)
    return {str(partition): [firsts[partition], last] for partition, last in lasts.items()}
