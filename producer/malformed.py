"""Malformed trade messages, for the workers' dead-letter path.

Each kind turns a good trade into one bad message and names the reason the
workers must dead-letter it with (the reasons are the workers' own codes, see
workers/validation.py). `producetrades --bad-ratio R` mixes them into a stream;
the tests use them one by one.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from producer.trades import encode

# What a good trade is made from: (id, timestamp ms, symbol, price cents, quantity).
GoodTrade = tuple[str, int, str, int, int]
# A bad message as (key, value); the key may be missing too.
Built = tuple[bytes | None, bytes]
Builder = Callable[[GoodTrade, random.Random], Built]


@dataclass(frozen=True)
class BadMessage:
    kind: str
    reason: str
    key: bytes | None
    value: bytes


def _kind(reason: str) -> Callable[[Builder], Builder]:
    def register(build: Builder) -> Builder:
        KINDS[build.__name__] = (reason, build)
        return build
    return register


KINDS: dict[str, tuple[str, Builder]] = {}


def _json(trade_id: str, ts: int, symbol: str, price: int | str, quantity: int | str) -> bytes:
    """A trade's message in the good layout; a str price or quantity goes in as raw JSON text."""
    # encode formats its fields as they are, so a bad value's text lands where the number would.
    return encode(trade_id, ts, symbol, price, quantity)  # type: ignore[arg-type]


@_kind("invalid_json")
def truncated_json(trade: GoodTrade, rng: random.Random) -> Built:
    value = _json(*trade)
    return trade[0].encode(), value[: rng.randint(1, len(value) - 1)]


@_kind("invalid_json")
def not_json(trade: GoodTrade, rng: random.Random) -> Built:
    return trade[0].encode(), b"id=%s;symbol=%s" % (trade[0].encode(), trade[2].encode())


@_kind("not_utf8")
def latin1_bytes(trade: GoodTrade, rng: random.Random) -> Built:
    return trade[0].encode(), _json(*trade).replace(b'"symbol": "', b'"symbol": "\xe9\xff')


@_kind("not_an_object")
def json_array(trade: GoodTrade, rng: random.Random) -> Built:
    return trade[0].encode(), b"[" + _json(*trade) + b"]"


@_kind("missing_field")
def missing_price(trade: GoodTrade, rng: random.Random) -> Built:
    trade_id, ts, symbol, price, quantity = trade
    document = f'{{"id": "{trade_id}", "timestamp": {ts}, "symbol": "{symbol}", "quantity": {quantity}}}'
    return trade_id.encode(), document.encode()


@_kind("unexpected_field")
def extra_field(trade: GoodTrade, rng: random.Random) -> Built:
    return trade[0].encode(), _json(*trade)[:-1] + b', "venue": "XNAS"}'


@_kind("wrong_type")
def price_as_string(trade: GoodTrade, rng: random.Random) -> Built:
    trade_id, ts, symbol, price, quantity = trade
    return trade_id.encode(), _json(trade_id, ts, symbol, f'"{price}"', quantity)


@_kind("wrong_type")
def fractional_price(trade: GoodTrade, rng: random.Random) -> Built:
    trade_id, ts, symbol, price, quantity = trade
    return trade_id.encode(), _json(trade_id, ts, symbol, f"{price / 100:.2f}", quantity)


@_kind("wrong_type")
def quantity_as_bool(trade: GoodTrade, rng: random.Random) -> Built:
    trade_id, ts, symbol, price, quantity = trade
    return trade_id.encode(), _json(trade_id, ts, symbol, price, "true")


@_kind("invalid_id")
def non_uuid_id(trade: GoodTrade, rng: random.Random) -> Built:
    trade_id = f"trade-{rng.randint(0, 10**9)}"
    return trade_id.encode(), _json(trade_id, *trade[1:])


@_kind("key_mismatch")
def key_is_another_id(trade: GoodTrade, rng: random.Random) -> Built:
    other = f"{rng.getrandbits(32):08x}-0000-4000-8000-{rng.getrandbits(48):012x}"
    return other.encode(), _json(*trade)


@_kind("key_mismatch")
def missing_key(trade: GoodTrade, rng: random.Random) -> Built:
    return None, _json(*trade)


@_kind("unknown_symbol")
def unlisted_symbol(trade: GoodTrade, rng: random.Random) -> Built:
    trade_id, ts, _symbol, price, quantity = trade
    return trade_id.encode(), _json(trade_id, ts, "ZZZZZQ", price, quantity)


@_kind("invalid_price")
def zero_price(trade: GoodTrade, rng: random.Random) -> Built:
    trade_id, ts, symbol, _price, quantity = trade
    return trade_id.encode(), _json(trade_id, ts, symbol, rng.choice([0, -1, -2501]), quantity)


@_kind("invalid_price")
def absurd_price(trade: GoodTrade, rng: random.Random) -> Built:
    trade_id, ts, symbol, _price, quantity = trade
    return trade_id.encode(), _json(trade_id, ts, symbol, 10**13, quantity)


@_kind("invalid_quantity")
def zero_quantity(trade: GoodTrade, rng: random.Random) -> Built:
    trade_id, ts, symbol, price, _quantity = trade
    return trade_id.encode(), _json(trade_id, ts, symbol, price, rng.choice([0, -5]))


@_kind("invalid_quantity")
def absurd_quantity(trade: GoodTrade, rng: random.Random) -> Built:
    trade_id, ts, symbol, price, _quantity = trade
    return trade_id.encode(), _json(trade_id, ts, symbol, price, 10**12)


@_kind("invalid_timestamp")
def timestamp_from_1970(trade: GoodTrade, rng: random.Random) -> Built:
    return trade[0].encode(), _json(trade[0], rng.randint(0, 10**9), *trade[2:])


@_kind("invalid_timestamp")
def timestamp_in_seconds_far_future(trade: GoodTrade, rng: random.Random) -> Built:
    return trade[0].encode(), _json(trade[0], trade[1] * 1000, *trade[2:])


@_kind("oversized")
def padded_value(trade: GoodTrade, rng: random.Random) -> Built:
    # Far above the workers' limit, still below Kafka's default 1 MB message limit.
    return trade[0].encode(), _json(*trade)[:-1] + b', "pad": "' + b"x" * 200_000 + b'"}'


# -- hostile input: what a careless or malicious producer might send ---------------------
def _with(trade: GoodTrade, field: str, raw: str) -> bytes:
    """The trade's JSON with one field's value replaced by raw JSON text."""
    trade_id, ts, symbol, price, quantity = trade
    values = {"id": f'"{trade_id}"', "timestamp": str(ts), "symbol": f'"{symbol}"', "price": str(price),
              "quantity": str(quantity), field: raw}
    return ("{" + ", ".join(f'"{name}": {value}' for name, value in values.items()) + "}").encode()


@_kind("duplicate_key")
def duplicated_price(trade: GoodTrade, rng: random.Random) -> Built:
    # Parsers disagree on which one counts (orjson keeps the last): refused outright.
    return trade[0].encode(), _json(*trade)[:-1] + b', "price": 1}'


@_kind("invalid_json")
def nan_price(trade: GoodTrade, rng: random.Random) -> Built:
    return trade[0].encode(), _with(trade, "price", "NaN")


@_kind("invalid_json")
def infinite_quantity(trade: GoodTrade, rng: random.Random) -> Built:
    return trade[0].encode(), _with(trade, "quantity", rng.choice(["Infinity", "-Infinity", "1e400"]))


@_kind("wrong_type")
def huge_integer_price(trade: GoodTrade, rng: random.Random) -> Built:
    return trade[0].encode(), _with(trade, "price", str(10**30 + rng.randint(0, 10**6)))


@_kind("wrong_type")
def exponent_price(trade: GoodTrade, rng: random.Random) -> Built:
    return trade[0].encode(), _with(trade, "price", f"{trade[3] / 1000}e3")


@_kind("wrong_type")
def object_as_id(trade: GoodTrade, rng: random.Random) -> Built:
    return trade[0].encode(), _with(trade, "id", f'{{"$oid": "{trade[0]}"}}')


@_kind("invalid_json")
def byte_order_mark(trade: GoodTrade, rng: random.Random) -> Built:
    return trade[0].encode(), b"\xef\xbb\xbf" + _json(*trade)


@_kind("invalid_json")
def control_character(trade: GoodTrade, rng: random.Random) -> Built:
    return trade[0].encode(), _with(trade, "symbol", f'"{trade[2]}\x01"')


@_kind("invalid_json")
def deep_nesting(trade: GoodTrade, rng: random.Random) -> Built:
    depth = rng.randint(2_000, 10_000)
    return trade[0].encode(), _with(trade, "price", "[" * depth + "]" * depth)


@_kind("invalid_json")
def json_bomb(trade: GoodTrade, rng: random.Random) -> Built:
    # 60 KB of brackets, just under the size limit: the parser's depth limit stops it.
    return trade[0].encode(), b"[" * 30_000 + b"]" * 30_000


@_kind("invalid_json")
def empty_value(trade: GoodTrade, rng: random.Random) -> Built:
    return trade[0].encode(), b""


@_kind("oversized")
def megabyte_value(trade: GoodTrade, rng: random.Random) -> Built:
    # 1,000,000 bytes: what a broker with Kafka's default limits still accepts.
    value = _json(*trade)[:-1] + b', "pad": "'
    return trade[0].encode(), value + b"y" * (1_000_000 - len(value) - 2) + b'"}'


@_kind("key_mismatch")
def utf16_key(trade: GoodTrade, rng: random.Random) -> Built:
    return trade[0].encode("utf-16"), _json(*trade)


@_kind("key_mismatch")
def uppercase_key(trade: GoodTrade, rng: random.Random) -> Built:
    return trade[0].upper().encode(), _json(*trade)


def make(kind: str, trade: GoodTrade, rng: random.Random) -> BadMessage:
    reason, build = KINDS[kind]
    key, value = build(trade, rng)
    return BadMessage(kind, reason, key, value)
