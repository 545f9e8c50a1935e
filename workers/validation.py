"""Decoding and validating one trade message.

A message is either a good trade or a rejection with a reason code; nothing in
here raises on bad input. The reason codes are what dead letters carry (header
`reason`) and what the dead-letter metrics count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

MAX_MESSAGE_BYTES = 64 * 1024
MAX_PRICE_CENTS = 1_000_000_000  # $10,000,000 a share
MAX_QUANTITY = 100_000_000
FIELDS = frozenset({"id", "timestamp", "symbol", "price", "quantity"})
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

# Why a message was dead-lettered.
OVERSIZED = "oversized"
NOT_UTF8 = "not_utf8"
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_FIELD = "missing_field"
UNEXPECTED_FIELD = "unexpected_field"
WRONG_TYPE = "wrong_type"
INVALID_ID = "invalid_id"
KEY_MISMATCH = "key_mismatch"
UNKNOWN_SYMBOL = "unknown_symbol"
INVALID_PRICE = "invalid_price"
INVALID_QUANTITY = "invalid_quantity"
INVALID_TIMESTAMP = "invalid_timestamp"
DUPLICATE_KEY = "duplicate_key"
REASONS = (OVERSIZED, NOT_UTF8, INVALID_JSON, NOT_AN_OBJECT, MISSING_FIELD, UNEXPECTED_FIELD, WRONG_TYPE, INVALID_ID,
           KEY_MISMATCH, UNKNOWN_SYMBOL, INVALID_PRICE, INVALID_QUANTITY, INVALID_TIMESTAMP, DUPLICATE_KEY)
# A valid trade has exactly these quotes: five keys and two string values (id, symbol),
# neither of which can hold a quote once validated. More means a repeated key.
QUOTES_IN_A_TRADE = 14


# A good trade: (id, timestamp ms, symbol, price cents, quantity).
Trade = tuple[str, int, str, int, int]


@dataclass(frozen=True)
class Rejection:
    reason: str
    detail: str


@dataclass(frozen=True)
class TradeRules:
    """What a valid trade looks like, beyond its shape."""

    symbols: frozenset[str]
    max_age_ms: int = 7 * 24 * 3600 * 1000  # replays of the last week are fine
    # A producer's clock may run ahead: such trades are stored (and counted as future-dated,
    # workers/trades.py), not dead-lettered, so a skewed producer neither stops the pool nor
    # loses trades. A day ahead is no skew but a wrong unit or a bug: those are refused.
    max_future_ms: int = 24 * 3600 * 1000
    skew_ms: int = 5 * 60 * 1000  # ahead by more than this, a trade counts as future-dated


def parse(key: bytes | None, value: bytes | None, rules: TradeRules, now_ms: int) -> Trade | Rejection:
    """(id, timestamp ms, symbol, price cents, quantity) of a good trade, else a Rejection."""
    if value is None:
        return Rejection(INVALID_JSON, "empty message")
    if len(value) > MAX_MESSAGE_BYTES:
        return Rejection(OVERSIZED, f"{len(value)} bytes, limit {MAX_MESSAGE_BYTES}")
    try:
        trade = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return _undecodable(value, exc)
    if type(trade) is not dict:
        return Rejection(NOT_AN_OBJECT, f"a JSON {type(trade).__name__}, not an object")
    if trade.keys() != FIELDS:
        missing, extra = FIELDS - trade.keys(), trade.keys() - FIELDS
        if missing:
            return Rejection(MISSING_FIELD, f"missing {sorted(missing)}")
        return Rejection(UNEXPECTED_FIELD, f"unexpected {sorted(extra)[:5]}")
    trade_id, timestamp, symbol = trade["id"], trade["timestamp"], trade["symbol"]
    price, quantity = trade["price"], trade["quantity"]
    # `type(x) is int` also refuses booleans, which are ints to isinstance().
    if type(trade_id) is not str or type(symbol) is not str or not (
        type(timestamp) is int and type(price) is int and type(quantity) is int
    ):
        return Rejection(WRONG_TYPE, "id and symbol must be strings; timestamp, price and quantity integers")
    if not _UUID.fullmatch(trade_id):
        return Rejection(INVALID_ID, f"id {trade_id[:40]!r} is not a UUID")
    if key is None or key != trade_id.encode():
        return Rejection(KEY_MISMATCH, "the message key is not the trade's id")
    if symbol not in rules.symbols:
        return Rejection(UNKNOWN_SYMBOL, f"unknown symbol {symbol[:20]!r}")
    if not 0 < price <= MAX_PRICE_CENTS:
        return Rejection(INVALID_PRICE, f"price {price} cents is out of range")
    if not 0 < quantity <= MAX_QUANTITY:
        return Rejection(INVALID_QUANTITY, f"quantity {quantity} is out of range")
    if not now_ms - rules.max_age_ms <= timestamp <= now_ms + rules.max_future_ms:
        return Rejection(INVALID_TIMESTAMP, f"timestamp {timestamp} is too far from now ({now_ms})")
    if value.count(b'"') != QUOTES_IN_A_TRADE:
        # orjson keeps the last of repeated keys silently; other readers may keep the first.
        return Rejection(DUPLICATE_KEY, "a key appears more than once")
    return trade_id.lower(), timestamp, symbol, price, quantity


def _undecodable(value: bytes, exc: orjson.JSONDecodeError) -> Rejection:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as utf8_error:
        return Rejection(NOT_UTF8, str(utf8_error)[:200])
    return Rejection(INVALID_JSON, str(exc)[:200])
