"""Pure logic of the data flow, without services: a job's delta from a batch, the offset
spans, merging deltas into one browser update, the snapshot's delta filter, and the
wire contract's layout and frame encoding."""

from __future__ import annotations

import json

import contract
from contract import Last, Row, Totals
from trademonitor.live import Coalescer, DeltaFilter, merge
from workers.batch import Batch, Span
from workers.ingest import NEWEST_MAX_TRADES, IngestJob
from workers.sentiment import SentimentJob
from workers.trades import offset_spans
from workers.validation import TradeRules

RULES = TradeRules(symbols=frozenset({"AAPL", "MSFT"}))
# (id, ms, symbol, price cents, quantity, partition, offset)
ROWS = [
    ("00000000-0000-0000-0000-00000000000a", 1000, "AAPL", 15000, 10, 0, 7),
    # same ms, later partition: the latest AAPL trade
    ("00000000-0000-0000-0000-00000000000b", 1000, "AAPL", 15100, 6000, 1, 3),
    ("00000000-0000-0000-0000-00000000000c", 999, "MSFT", 30000, 1, 0, 8),
    ("00000000-0000-0000-0000-00000000000d", 1001, "MSFT", 29900, 2, 0, 9),
]


def batch_of(rows: list[tuple]) -> Batch:
    spans = {("t", 0): Span("t", 0, 7, 9), ("t", 1): Span("t", 1, 3, 3)}
    for row in rows:
        spans[("t", row[5])].rows.append(row)
    return Batch(spans=spans, consumed=len(rows))


def test_an_ingest_delta_sums_each_symbol_and_keeps_its_latest_trade():
    delta = IngestJob("t", rules=RULES).delta(batch_of(ROWS))

    assert delta["type"] == contract.TRADES_DELTA and delta["topic"] == "t"
    assert delta["offsets"] == {"0": [7, 9], "1": [3, 3]}
    aapl, msft = delta["symbols"]["AAPL"], delta["symbols"]["MSFT"]
    assert [aapl[Totals.TRADES], aapl[Totals.SHARES], aapl[Totals.VOLUME]] == [2, 6010, 15000 * 10 + 15100 * 6000]
    assert aapl[Totals.LAST] == [1000, 1, 3, 15100]  # ties on ms broken by (partition, offset)
    assert msft[Totals.LAST][Last.PRICE] == 29900 and msft[Totals.TRADES] == 2


def test_an_ingest_delta_carries_each_symbols_newest_trades_unless_it_is_a_backlogs():
    ids = ["00000000-0000-0001-0000-000000000000", "00000000-0000-0000-FFFF-000000000000"]
    rows = [(ids[0], 1000, "AAPL", 15000, 10, 0, 7), (ids[1], 1000, "AAPL", 15100, 5, 1, 3),
            *[(f"00000000-0000-0000-0000-{i:012x}", 900 + i, "MSFT", 100, 1, 0, 8 + i) for i in range(60)]]
    newest = {symbol: [contract.record_trade(record) for record in contract.records(data)]
              for symbol, data in IngestJob("t", rules=RULES).delta(batch_of(rows))["newest"].items()}

    # One millisecond: ClickHouse's UUID order (last eight bytes first), ids lower-cased as it writes them.
    assert newest["AAPL"] == [[ids[1].lower(), 1000, 15100, 5], [ids[0], 1000, 15000, 10]]  # contract.Trade
    assert [t[contract.Trade.MS] for t in newest["MSFT"]] == list(range(959, 959 - contract.FIRST_PAGE, -1))

    backlog = [(f"00000000-0000-0000-0000-{i:012x}", i, "MSFT", 100, 1, 0, 8 + i)
               for i in range(NEWEST_MAX_TRADES + 1)]
    assert "newest" not in IngestJob("t", rules=RULES).delta(batch_of(backlog))


def test_a_sentiment_delta_counts_whales_only():
    delta = SentimentJob("t", threshold=5000, rules=RULES).delta(batch_of(ROWS))
    assert delta == {"type": contract.SENTIMENT_DELTA, "topic": "t", "offsets": {"0": [7, 9], "1": [3, 3]},
                     "whales": {"AAPL": 1}}


def test_offset_spans_keep_each_partitions_first_and_last():
    assert offset_spans([r for r in ROWS if r[5] == 0]) == {"0": [7, 9]}
    assert offset_spans([]) == {}


def trades_delta(symbol: str, trades: int, last: list[int], partition: int = 0, offset: int = 0) -> contract.TradesDelta:
    return {"type": contract.TRADES_DELTA, "topic": "t", "offsets": {str(partition): [offset, offset]},
            "symbols": {symbol: [trades, trades * 10, trades * 1000, last]}}


def test_merging_adds_counts_keeps_the_latest_trade_and_takes_whales_apart():
    whales: contract.SentimentDelta = {"type": contract.SENTIMENT_DELTA, "topic": "t", "offsets": {"0": [1, 1]},
                                       "whales": {"AAPL": 2}}
    update = merge([trades_delta("AAPL", 2, [1000, 0, 5, 150]), trades_delta("AAPL", 1, [900, 1, 9, 149]),
                    trades_delta("MSFT", 1, [1200, 0, 6, 300]), whales])

    assert update is not None
    assert update["symbols"]["AAPL"] == [3, 30, 3000, [1000, 0, 5, 150]]  # the later trade wins, not the last delta
    assert (update["trades"], update["newest_ms"], update["whales"]) == (4, 1200, {"AAPL": 2})
    assert merge([]) is None


def test_a_coalescer_starts_afresh_after_each_take():
    coalescer = Coalescer()
    coalescer.add(trades_delta("AAPL", 1, [1000, 0, 1, 150]))
    assert coalescer.take() is not None
    assert coalescer.take() is None


def test_the_filter_passes_only_deltas_past_the_snapshots_watermarks():
    deltas = DeltaFilter("t", {contract.TRADES_DELTA: {0: 10}, contract.SENTIMENT_DELTA: {}})

    assert not deltas.is_new(trades_delta("AAPL", 1, [1, 0, 10, 1], partition=0, offset=10))  # counted already
    assert deltas.is_new(trades_delta("AAPL", 1, [1, 0, 11, 1], partition=0, offset=11))
    assert deltas.is_new(trades_delta("AAPL", 1, [1, 1, 0, 1], partition=1, offset=0))  # a partition it has none of
    other_topic = {**trades_delta("AAPL", 1, [1, 0, 11, 1], offset=11), "topic": "elsewhere"}
    assert not deltas.is_new(other_topic)  # type: ignore[arg-type]


def test_a_delta_frame_can_be_read_from_its_first_bytes():
    frame: contract.DeltaFrame = {"type": contract.DELTA, "trades": 12, "newest_ms": 1583934115727,
                                  "symbols": {"AAPL": [12, 1, 2, [1, 0, 0, 1]]}, "whales": {}}
    text = contract.encode_delta_frame(frame)

    assert json.loads(text) == frame
    assert contract.frame_type(text) == contract.DELTA
    assert contract.delta_counts(text) == (12, 1583934115727)
    assert contract.delta_counts(json.dumps({"type": "status", "lag": 1})) is None


def test_the_page_layout_names_every_field_by_its_index():
    layout = contract.layout()
    assert layout["Row"] == {field.name.lower(): field.value for field in Row}
    assert layout["Last"]["price"] == Last.PRICE == 3
    assert set(layout) == {"Last", "Totals", "Row", "Trade", "Candle", "Ack", "Subscribe"}
    assert layout["Ack"] == {"every_ms": 500}
    assert layout["Subscribe"] == {"max_symbols": contract.MAX_SUBSCRIPTIONS}
