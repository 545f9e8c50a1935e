"""Trade validation (pure logic): every malformed kind gets its advertised reason."""

from __future__ import annotations

import random

import pytest

from producer import malformed
from producer.trades import encode
from workers.validation import Rejection, TradeRules, parse

NOW = 1_795_000_000_000
RULES = TradeRules(symbols=frozenset({"ENTG", "AAPL"}))
TRADE_ID = "0b1c2d3e-0000-4000-8000-000000000001"


def test_a_good_trade_parses_to_its_fields():
    value = encode(TRADE_ID, NOW - 1000, "ENTG", 2501, 99)
    assert parse(TRADE_ID.encode(), value, RULES, NOW) == (TRADE_ID, NOW - 1000, "ENTG", 2501, 99)


@pytest.mark.parametrize("kind", sorted(malformed.KINDS))
def test_each_malformed_kind_is_rejected_for_its_reason(kind):
    bad = malformed.make(kind, (TRADE_ID, NOW - 1000, "ENTG", 2501, 99), random.Random(kind))
    outcome = parse(bad.key, bad.value, RULES, NOW)
    assert isinstance(outcome, Rejection)
    assert outcome.reason == bad.reason, outcome


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b'{"id": "%s", "timestamp": 1, "symbol": "ENTG", "price": true, "quantity": 1}', "wrong_type"),
        (b'{"id": "%s", "timestamp": 1, "symbol": "ENTG", "price": 1e3, "quantity": 1}', "wrong_type"),
        (b'{"id": "%s", "timestamp": null, "symbol": "ENTG", "price": 1, "quantity": 1}', "wrong_type"),
        (b'"just a string"', "not_an_object"),
        (b"", "invalid_json"),
        (b"\xef\xbb\xbf{}", "invalid_json"),
        (b'{"id": "%s", "id": "x"}', "missing_field"),
    ],
)
def test_edge_cases(value, reason):
    if b"%s" in value:
        value = value % TRADE_ID.encode()
    outcome = parse(TRADE_ID.encode(), value, RULES, NOW)
    assert isinstance(outcome, Rejection) and outcome.reason == reason


def test_none_value_is_rejected_not_raised():
    assert parse(None, None, RULES, NOW).reason == "invalid_json"
