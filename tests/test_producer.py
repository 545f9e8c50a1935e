"""`producetrades` against the real broker."""

from __future__ import annotations

import ast
import json
import math
import random
import re
import time
import uuid

import pytest
from confluent_kafka import Consumer
from django.core.management import call_command

from infra.kafka import client_config, ensure_topic
from producer import malformed
from producer.trades import TradeGenerator
from trademonitor.models import Symbol
from workers.validation import Rejection, TradeRules, parse

pytestmark = [pytest.mark.services, pytest.mark.django_db]

SEED_LAYOUT = re.compile(
    rb'^\{"id": "[0-9a-f-]{36}", "timestamp": \d{13}, "symbol": "[A-Z0-9.$^-]+", "price": \d+, "quantity": \d+\}$')


@pytest.fixture
def universe():
    call_command("loadsymbols")
    return set(Symbol.objects.values_list("symbol", flat=True))


def new_topic() -> str:
    name = f"test-trades-{uuid.uuid4().hex[:8]}"
    ensure_topic(name, 3)
    return name


def read_all(topic: str, expected: int) -> list:
    consumer = Consumer(client_config(**{"group.id": uuid.uuid4().hex, "auto.offset.reset": "earliest"}))
    consumer.subscribe([topic])
    messages = []
    while len(messages) < expected:
        batch = consumer.consume(num_messages=expected - len(messages), timeout=20)
        if not batch:
            break
        messages.extend(m for m in batch if m.error() is None)
    consumer.close()
    return messages


def test_messages_follow_the_seed_schema_and_a_seed_repeats_the_stream(universe):
    first, second = new_topic(), new_topic()
    call_command("producetrades", "--count", "10000", "--seed", "1", "--rate", "0", "--topic", first)
    call_command("producetrades", "--count", "10000", "--seed", "1", "--rate", "0", "--topic", second)

    messages = read_all(first, 10000)
    assert len(messages) == 10000
    trades = []
    for message in messages:
        assert SEED_LAYOUT.match(message.value()), message.value()
        trade = json.loads(message.value())
        assert set(trade) == {"id", "timestamp", "symbol", "price", "quantity"}
        assert message.key().decode() == trade["id"] == str(uuid.UUID(trade["id"]))
        assert trade["symbol"] in universe
        assert isinstance(trade["price"], int) and trade["price"] > 0
        assert isinstance(trade["quantity"], int) and trade["quantity"] > 0
        trades.append((trade["id"], trade["symbol"], trade["price"], trade["quantity"]))
    assert len({t[0] for t in trades}) == 10000

    again = [json.loads(m.value()) for m in read_all(second, 10000)]
    assert sorted(trades) == sorted((t["id"], t["symbol"], t["price"], t["quantity"]) for t in again)


def test_symbols_option_limits_the_universe(universe):
    topic = new_topic()
    call_command("producetrades", "--count", "500", "--rate", "0", "--topic", topic, "--symbols", "AAPL,MSFT")
    assert {json.loads(m.value())["symbol"] for m in read_all(topic, 500)} == {"AAPL", "MSFT"}


def test_bad_ratio_mixes_in_every_kind_of_malformed_message(universe, capsys):
    topic = new_topic()
    call_command("producetrades", "--count", "3000", "--rate", "0", "--seed", "3", "--bad-ratio", "0.5",
                 "--topic", topic)
    output = capsys.readouterr().out

    messages = read_all(topic, 3000)
    # The truth is the topic: every message judged by the workers' own validation.
    rules = TradeRules(symbols=frozenset(universe))
    outcomes = [parse(m.key(), m.value(), rules, time.time_ns() // 1_000_000) for m in messages]
    rejected = [outcome.reason for outcome in outcomes if isinstance(outcome, Rejection)]
    good = [m for m, outcome in zip(messages, outcomes, strict=True)
            if not isinstance(outcome, Rejection) and SEED_LAYOUT.match(m.value()) and _is_good(m, universe)]
    assert len(messages) == 3000
    assert len(good) + len(rejected) == 3000
    assert set(rejected) == {reason for reason, _make in malformed.KINDS.values()}  # every kind of breakage
    reported = ast.literal_eval(output.split("malformed: ")[1])  # what the command says it sent
    assert set(reported) == set(malformed.KINDS) and sum(reported.values()) == len(rejected)


def _is_good(message, universe) -> bool:
    trade = json.loads(message.value())
    return (message.key() == trade["id"].encode() and trade["symbol"] in universe
            and 0 < trade["price"] < 10**9 and 0 < trade["quantity"] <= 1_000_000
            and trade["timestamp"] > 10**12 and trade["timestamp"] < 10**13)


@pytest.mark.parametrize("kind", sorted(malformed.KINDS))
def test_each_malformed_kind_is_broken_as_advertised(kind):
    rng = random.Random(kind)
    trade_id, symbol, price, quantity = "0b1c2d3e-0000-4000-8000-000000000001", "AAPL", 2501, 99
    bad = malformed.make(kind, (trade_id, 1583934115727, symbol, price, quantity), rng)

    assert bad.kind == kind
    if bad.reason == "invalid_json":
        with pytest.raises(ValueError):
            strict_json(bad.value)
        return
    if bad.reason == "not_utf8":
        with pytest.raises(UnicodeDecodeError):
            bad.value.decode("utf-8")
        return
    if bad.reason == "oversized":
        assert len(bad.value) > 100_000
        return
    if bad.reason == "duplicate_key":
        keys = []
        json.loads(bad.value, object_pairs_hook=lambda pairs: keys.extend(k for k, _ in pairs))
        assert len(keys) > len(set(keys))
        return
    document = strict_json(bad.value)
    if bad.reason == "not_an_object":
        assert not isinstance(document, dict)
        return
    checks = {
        "missing_field": lambda d: set(d) < {"id", "timestamp", "symbol", "price", "quantity"},
        "unexpected_field": lambda d: set(d) > {"id", "timestamp", "symbol", "price", "quantity"},
        # Integers past 64 bits count as wrong: JSON readers (orjson among them) turn them into floats.
        "wrong_type": lambda d: not isinstance(d["id"], str) or any(
            type(d[f]) is not int or abs(d[f]) >= 2**63 for f in ("timestamp", "price", "quantity")),
        "invalid_id": lambda d: not re.fullmatch(r"[0-9a-f-]{36}", d["id"]),
        "key_mismatch": lambda d: bad.key != d["id"].encode(),
        "unknown_symbol": lambda d: d["symbol"] != symbol,
        "invalid_price": lambda d: d["price"] <= 0 or d["price"] >= 10**9,
        "invalid_quantity": lambda d: d["quantity"] <= 0 or d["quantity"] > 10**8,
        "invalid_timestamp": lambda d: abs(d["timestamp"] - 1583934115727) > 10**9,
    }
    assert checks[bad.reason](document)


def strict_json(value: bytes):
    """RFC 8259 JSON: UTF-8 without a BOM, no NaN or Infinity; too deep is invalid too."""
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    def finite(text):
        number = float(text)
        return number if math.isfinite(number) else refuse(text)

    try:
        return json.loads(value.decode("utf-8"), parse_constant=refuse, parse_float=finite)
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc


def test_generator_walks_prices_and_skews_quantities():
    generator = TradeGenerator(["AAA", "BBB"], seed=5)
    trades = [json.loads(value) for _, value in generator.batch(20000, 0)]
    quantities = sorted(t["quantity"] for t in trades)
    aaa = [t["price"] for t in trades if t["symbol"] == "AAA"]

    assert quantities[len(quantities) // 2] < 50 and quantities[-1] > 5000  # many small, a few whales
    moves = [b - a for a, b in zip(aaa, aaa[1:], strict=False)]
    assert sum(m > 0 for m in moves) > len(moves) / 3 and sum(m < 0 for m in moves) > len(moves) / 3
    assert max(aaa) <= 4 * aaa[0] * 1.01 and min(aaa) >= 1
