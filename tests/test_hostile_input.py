"""10,000 hypothesis-generated bad messages among 20,000 good trades, through real
workers: every bad one is dead-lettered with a reason, every good one is stored
exactly once, no worker restarts, and the workers' memory stays bounded."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from producer.trades import now_ms
from workers.validation import MAX_PRICE_CENTS, REASONS, Rejection, TradeRules, parse

pytestmark = [pytest.mark.services, pytest.mark.slow]

SYMBOLS = ["AAPL", "MSFT", "ENTG", "NVDA"]
BAD_MESSAGES = 10_000
GOOD_TRADES = 30_000  # two good for every bad: a stream that is mostly bad stops the pool, by design
MAX_WORKER_PEAK_RSS_MB = 400

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=20,
)
# Values a field must never accept (price: a positive integer of cents up to the limit).
not_a_price = (st.none() | st.booleans() | st.text(max_size=10) | st.floats(allow_nan=False)
               | st.integers(max_value=0) | st.integers(min_value=MAX_PRICE_CENTS + 1)
               | st.lists(st.integers(), max_size=3))
not_a_string = st.none() | st.booleans() | st.integers() | st.lists(st.text(max_size=3), max_size=3)


@st.composite
def trade_fields(draw) -> dict:
    return {"id": str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)), version=4)), "timestamp": now_ms() - 1000,
            "symbol": draw(st.sampled_from(SYMBOLS)), "price": draw(st.integers(1, 10**6)),
            "quantity": draw(st.integers(1, 10**4))}


@st.composite
def bad_message(draw) -> tuple[bytes | None, bytes]:
    """A (key, value) that is bad by construction, never by chance."""
    trade = draw(trade_fields())
    key = trade["id"].encode()
    how = draw(st.sampled_from(["bytes", "json", "price", "id", "symbol", "missing", "extra", "key"]))
    if how == "bytes":
        return draw(st.binary(max_size=300)), draw(st.binary(max_size=2_000))
    if how == "json":
        return key, json.dumps(draw(json_values)).encode()
    if how == "price":
        trade["price"] = draw(not_a_price)
    elif how in ("id", "symbol"):
        trade[how] = draw(not_a_string)
    elif how == "missing":
        del trade[draw(st.sampled_from(sorted(trade)))]
    elif how == "extra":
        trade[draw(st.text(min_size=1, max_size=8).filter(lambda name: name not in trade))] = draw(json_values)
    else:  # a key that is not the trade's id
        key = draw(st.binary(max_size=40).filter(lambda other: other != key))
    return key, json.dumps(trade).encode()


def test_generated_bad_messages_are_all_dead_lettered_and_nothing_good_is_lost(pipeline):
    bad: list[tuple[bytes | None, bytes]] = []
    rules = TradeRules(symbols=frozenset(SYMBOLS))

    @settings(max_examples=BAD_MESSAGES, phases=[Phase.generate], database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(bad_message())
    def collect(message):
        # Guards the strategy: bad by construction, as the workers' own rules agree.
        assert isinstance(parse(*message, rules, now_ms()), Rejection)
        bad.append(message)

    collect()
    assert len(bad) == BAD_MESSAGES
    # The good trades are interleaved with the bad ones, two for one.
    pipeline.produce(GOOD_TRADES, SYMBOLS, seed=31, extra=bad)
    pool = pipeline.start_pool(2)
    assert pipeline.wait_for(GOOD_TRADES) == GOOD_TRADES
    workers = pipeline.worker_pids(pool)
    letters = pipeline.dead_letters(BAD_MESSAGES, timeout=120)

    assert len(letters) == BAD_MESSAGES
    assert {dict(letter.headers())["reason"].decode() for letter in letters} <= set(REASONS)
    assert sorted(letter.value() for letter in letters) == sorted(value for _key, value in bad)
    assert pipeline.worker_pids(pool) == workers, "a worker restarted"
    peaks = {pid: _peak_rss_mb(pid) for pid in workers}
    assert all(peak < MAX_WORKER_PEAK_RSS_MB for peak in peaks.values()), peaks
    assert pipeline.stop(pool) == 0
    pipeline.assert_exact()


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for {pid}")
