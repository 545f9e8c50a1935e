"""The dashboard's pure live-state logic: telling a lost delta from a repeat, and the
web process's live copy of the snapshot and of each symbol's newest trades."""

import json

import contract
from trademonitor.live import GAP, NEW, REPEAT, Allowance, Continuity, LiveCopy, NewestTrades, TradeRate


def delta(kind: str = contract.TRADES_DELTA, **consumed: tuple[int, int]) -> dict:
    return {"type": kind, "consumed": {partition.lstrip("p"): list(span) for partition, span in consumed.items()}}


def test_consecutive_deltas_are_new_and_a_skipped_range_is_a_gap():
    continuity = Continuity()
    assert continuity.check(delta(p0=(0, 99), p1=(0, 49))) == NEW
    assert continuity.check(delta(p0=(100, 180))) == NEW
    assert continuity.check(delta(p1=(50, 60), p0=(181, 200))) == NEW
    assert continuity.check(delta(p0=(230, 240))) == GAP      # 201-229 never arrived
    assert continuity.check(delta(p0=(241, 250))) == NEW      # the gap's delta is the new starting point


def test_repeats_and_overlaps():
    continuity = Continuity()
    continuity.check(delta(p2=(0, 99)))
    assert continuity.check(delta(p2=(10, 99))) == REPEAT     # all of it seen
    assert continuity.check(delta(p2=(90, 120))) == NEW       # a resumed worker's overlap (dead letters only)
    assert continuity.check(delta(p2=(121, 130))) == NEW


def test_kinds_and_partitions_are_tracked_apart():
    continuity = Continuity()
    continuity.check(delta(p0=(0, 9)))
    assert continuity.check(delta(contract.SENTIMENT_DELTA, p0=(500, 509))) == NEW  # its own first delta
    assert continuity.check(delta(p1=(700, 709))) == NEW                     # a partition seen for the first time
    assert continuity.check(delta(contract.SENTIMENT_DELTA, p0=(520, 530))) == GAP


def test_reset_forgets_everything():
    continuity = Continuity()
    continuity.check(delta(p0=(0, 9)))
    continuity.reset()
    assert continuity.check(delta(p0=(50, 60))) == NEW


def _frame() -> dict:
    return {"type": contract.SNAPSHOT, "watermarks": {"0": 9}, "sentiment_watermarks": {"0": 9},
            "whale_quantity": 5000, "alerts": [{"window_start": "2026-11-28T10:00:00Z", "symbol": "AAPL"}],
            "symbols": {"AAPL": ["Apple", 2, 20, 2000, [1000, 0, 9, 100], 1, 0],
                        "MSFT": ["Microsoft", 0, 0, 0, None, 0, 0]}}


def _trades(partition: int, first: int, last: int, **symbols: list) -> dict:
    return {"type": contract.TRADES_DELTA, "topic": "trades", "offsets": {str(partition): [first, last]},
            "symbols": symbols}


def test_the_live_copy_adds_each_delta_its_snapshot_does_not_count_once():
    copy = LiveCopy(_frame(), "trades", recent_alerts=2)
    copy.add(_trades(0, 5, 9, AAPL=[5, 50, 5000, [900, 0, 9, 99]]))  # counted by the snapshot: ignored
    copy.add(_trades(0, 10, 11, AAPL=[2, 3, 300, [2000, 0, 11, 150]], NEWCO=[1, 7, 700, [1500, 0, 10, 100]]))
    copy.add(_trades(0, 10, 11, AAPL=[2, 3, 300, [2000, 0, 11, 150]]))  # a repeat: ignored
    copy.add(_trades(1, 0, 0, MSFT=[1, 1, 400, [1900, 1, 0, 400]]))  # another partition, none counted yet
    copy.add(_trades(1, 1, 1, MSFT=[1, 1, 300, [1800, 1, 1, 300]]))  # earlier by time: not the last
    copy.add({"type": contract.SENTIMENT_DELTA, "topic": "trades", "offsets": {"0": [10, 10]},
              "whales": {"AAPL": 1, "LATER": 2}})
    copy.add(_trades(2, 0, 0, LATER=[1, 9000, 9000, [3000, 2, 0, 100]]))
    copy.add({"type": contract.TRADES_DELTA, "topic": "other", "offsets": {"0": [50, 50]},
              "symbols": {"AAPL": [1, 1, 1, [9999, 0, 50, 1]]}})  # another topic: ignored

    text, watermarks = copy.text()
    frame = json.loads(text)
    assert frame["symbols"] == {
        "AAPL": ["Apple", 4, 23, 2300, [2000, 0, 11, 150], 2, 50],  # moved from the snapshot's 100 to 150
        "MSFT": ["Microsoft", 2, 2, 700, [1900, 1, 0, 400], 0, 0],  # a first price is no move
        "NEWCO": ["NEWCO", 1, 7, 700, [1500, 0, 10, 100], 0, 0],
        "LATER": ["LATER", 1, 9000, 9000, [3000, 2, 0, 100], 2, 0],  # its whales came before its first trade
    }
    assert frame["watermarks"] == {"0": 11, "1": 1, "2": 0}
    assert frame["sentiment_watermarks"] == {"0": 10}
    assert watermarks == {contract.TRADES_DELTA: {0: 11, 1: 1, 2: 0}, contract.SENTIMENT_DELTA: {0: 10}}


def test_the_live_copy_keeps_the_last_price_move_also_across_a_new_read():
    copy = LiveCopy(_frame(), "trades", recent_alerts=2)
    copy.add(_trades(0, 10, 10, AAPL=[1, 1, 90, [2000, 0, 10, 90]]))
    copy.add(_trades(0, 11, 11, AAPL=[1, 1, 90, [2100, 0, 11, 90]]))  # the same price: the move stands
    copy.add(_trades(0, 12, 12, MSFT=[1, 1, 400, [2200, 0, 12, 400]], AAPL=[1, 1, 95, [2050, 0, 12, 95]]))
    assert copy.frame["symbols"]["AAPL"][contract.Row.CHANGE] == -10  # the older trade of offset 12 is no move

    def reread() -> dict:  # ClickHouse's snapshot as of offset 12: no moves
        frame = _frame()
        frame["watermarks"] = {"0": 12}
        frame["symbols"]["AAPL"] = ["Apple", 5, 23, 2375, [2100, 0, 11, 90], 1, 0]
        frame["symbols"]["MSFT"] = ["Microsoft", 1, 1, 400, [2200, 0, 12, 400], 0, 0]
        return frame

    fresh = LiveCopy(reread(), "trades", recent_alerts=2)
    fresh.keep_changes(copy)
    assert json.loads(fresh.text()[0])["symbols"]["AAPL"][contract.Row.CHANGE] == -10

    fresh.add(_trades(0, 13, 13, AAPL=[1, 1, 91, [2300, 0, 13, 91]]))
    assert fresh.frame["symbols"]["AAPL"][contract.Row.CHANGE] == 1
    other = LiveCopy(reread(), "trades", recent_alerts=2)  # its last trade is not the one `fresh` moved to
    other.keep_changes(fresh)
    assert other.frame["symbols"]["AAPL"][contract.Row.CHANGE] == 0  # so its move is not known
    assert other.frame["symbols"]["MSFT"][contract.Row.CHANGE] == 0  # nor where none was heard


def test_the_live_copys_text_is_a_compact_snapshot_frame_clients_can_tell_by_its_first_bytes():
    text, _watermarks = LiveCopy(_frame(), "trades", recent_alerts=2).text()

    assert contract.frame_type(text[:64]) == contract.SNAPSHOT
    assert json.loads(text) == _frame()
    assert len(text) == len(json.dumps(_frame(), separators=(",", ":")))  # nothing between the tokens


def test_the_live_copy_keeps_the_newest_alerts_revised_in_place():
    copy = LiveCopy(_frame(), "trades", recent_alerts=2)
    copy.add_alerts([{"window_start": "2026-11-28T10:05:00Z", "symbol": "MSFT"}])
    copy.add_alerts([{"window_start": "2026-11-28T10:00:00Z", "symbol": "NEWCO"},
                     {"window_start": "2026-11-28T09:55:00Z", "symbol": "OLD"}])
    assert [alert["symbol"] for alert in json.loads(copy.text()[0])["alerts"]] == ["MSFT", "NEWCO"]


# -- each symbol's newest trades (a drill-down's first page) ------------------------------
def trade(ms: int, offset: int, partition: int = 0, trade_id: str = "") -> bytes:
    """A contract.TRADE_RECORD; the id, unless given, follows the offset, and so does the price."""
    return contract.trade_record(trade_id or f"00000000-0000-0000-0000-{offset:012x}", ms, 100 + offset, 1,
                                 partition, offset)


def offsets(page: list[list] | None) -> list[int]:
    """The offsets of a page's trades (their prices, by `trade`)."""
    assert page is not None
    return [t[contract.Trade.PRICE] - 100 for t in page]


def trades_delta(newest: dict[str, list[bytes]] | None, *symbols: str) -> dict:
    delta = {"type": contract.TRADES_DELTA, "symbols": {symbol: [] for symbol in (*symbols, *(newest or {}))}}
    if newest is not None:
        delta["newest"] = {symbol: b"".join(records) for symbol, records in newest.items()}
    return delta


def pages(**records: list[bytes]) -> dict[str, bytes]:
    return {symbol: b"".join(trades) for symbol, trades in records.items()}


def test_a_read_page_takes_the_newer_trades_of_each_delta_and_stays_at_its_size():
    newest = NewestTrades(size=3)
    newest.begin(["AAPL", "MSFT"])
    newest.read(pages(AAPL=[trade(20, 2), trade(10, 1)]))
    assert newest.page("MSFT") == []  # read, and no trades: an empty page, not an unknown one
    assert newest.page("TSLA") is None

    newest.add(trades_delta({"AAPL": [trade(30, 3)]}))
    newest.add(trades_delta({"AAPL": [trade(25, 4, partition=1), trade(5, 5, partition=1)]}))
    assert newest.page("AAPL") == [["00000000-0000-0000-0000-000000000003", 30, 103, 1],  # contract.Trade
                                   ["00000000-0000-0000-0000-000000000004", 25, 104, 1],
                                   ["00000000-0000-0000-0000-000000000002", 20, 102, 1]]
    assert newest.page("AAPL", limit=2) == newest.page("AAPL")[:2]


def test_a_page_runs_in_clickhouses_order_of_ids_within_a_millisecond():
    ids = ["00000000-0000-0001-0000-000000000000", "00000000-0000-0000-ffff-000000000000",
           "00000000-0000-0000-0000-000000000001", "10000000-0000-0000-0000-000000000000"]
    newest = NewestTrades(size=4)
    newest.begin(["AAPL"])
    newest.read(pages(AAPL=[trade(10, i, trade_id=trade_id) for i, trade_id in enumerate(ids[:2])]))
    newest.add(trades_delta({"AAPL": [trade(10, i + 2, trade_id=trade_id) for i, trade_id in enumerate(ids[2:])]}))
    page = newest.page("AAPL")
    # ClickHouse compares a UUID's last eight bytes first (test_schema checks it against the engine).
    assert [t[contract.Trade.ID] for t in page] == [ids[1], ids[2], ids[3], ids[0]]


def test_trades_stored_while_a_page_is_read_count_once_whether_the_read_saw_them_or_not():
    newest = NewestTrades(size=5)
    newest.begin(["AAPL"])
    newest.add(trades_delta({"AAPL": [trade(30, 3), trade(20, 2)]}))  # published during the read
    newest.read(pages(AAPL=[trade(20, 2), trade(10, 1)]))  # the read saw one of them
    assert offsets(newest.page("AAPL")) == [3, 2, 1]


def test_two_trades_with_one_id_are_two_trades():
    newest = NewestTrades(size=5)
    newest.begin(["AAPL"])
    same_id = "00000000-0000-0000-0000-00000000000a"
    newest.read(pages(AAPL=[trade(10, 1, trade_id=same_id)]))
    newest.add(trades_delta({"AAPL": [trade(10, 7, partition=2, trade_id=same_id)]}))
    assert len(newest.page("AAPL")) == 2


def test_a_delta_without_its_trades_drops_their_pages_and_spoils_a_read_under_way():
    newest = NewestTrades(size=5)
    newest.begin(["AAPL", "MSFT"])
    newest.read(pages(AAPL=[trade(10, 1)], MSFT=[trade(10, 2)]))
    assert not newest.backlog
    newest.add(trades_delta(None, "AAPL"))  # a backlog's delta: AAPL changed, its trades not said
    assert newest.page("AAPL") is None and newest.page("MSFT") is not None
    assert newest.backlog  # the hub reads no pages until a second passes without one
    assert newest.missing({"AAPL": ["Apple", 1, 10, 1000, None, 0, 0], "MSFT": ["Microsoft", 1, 10, 1000, None, 0, 0]}) \
        == ["AAPL"]

    newest.begin(["AAPL"])
    newest.add(trades_delta(None, "AAPL"))
    newest.read(pages(AAPL=[trade(10, 1)]))  # may predate the delta's trades
    assert newest.page("AAPL") is None


def test_forgotten_pages_and_abandoned_reads_leave_nothing_kept():
    newest = NewestTrades(size=5)
    newest.begin(["AAPL"])
    newest.read(pages(AAPL=[trade(10, 1)]))
    newest.begin(["MSFT"])
    newest.clear()  # a gap: deltas went by unseen
    newest.read(pages(MSFT=[trade(10, 2)]))  # the read under way when it happened
    assert newest.page("AAPL") is None and newest.page("MSFT") is None

    newest.begin(["MSFT"])
    newest.abandon()
    newest.read(pages(MSFT=[trade(10, 2)]))
    assert newest.page("MSFT") is None


def test_a_feed_just_started_takes_each_symbols_last_move_from_its_kept_page():
    def priced(ms: int, offset: int, price: int) -> bytes:
        return contract.trade_record(f"00000000-0000-0000-0000-{offset:012x}", ms, price, 1, 0, offset)

    newest = NewestTrades()
    newest.begin(["AAPL", "MSFT", "FLAT", "AHEAD"])
    newest.read(pages(AAPL=[priced(1000, 9, 100), priced(900, 8, 100), priced(800, 7, 120)],  # newest first
                      MSFT=[priced(1900, 1, 400), priced(1800, 0, 390)], FLAT=[priced(500, 3, 50), priced(400, 2, 50)],
                      AHEAD=[priced(700, 5, 70), priced(600, 4, 60)]))
    assert newest.last_move("AAPL") == ([1000, 0, 9, 100], -20)  # the latest earlier price that differs
    assert newest.last_move("FLAT") == ([500, 0, 3, 50], 0)
    assert newest.last_move("NONE") is None

    frame = _frame()
    frame["symbols"].update(FLAT=["Flat", 2, 2, 100, [500, 0, 3, 50], 0, 0],
                            AHEAD=["Ahead", 3, 3, 210, [800, 0, 6, 80], 0, 0])  # a trade the page has not yet
    copy = LiveCopy(frame, "trades", recent_alerts=2)
    copy.frame["symbols"]["AAPL"][contract.Row.LAST] = [1000, 0, 9, 100]
    copy.frame["symbols"]["MSFT"][contract.Row.LAST] = [1900, 0, 1, 400]
    copy.frame["symbols"]["MSFT"][contract.Row.CHANGE] = 7  # heard from a delta: kept

    assert copy.seed_moves(newest, ["AAPL", "MSFT", "FLAT", "AHEAD", "NONE"]) == {"AAPL": -20}
    assert json.loads(copy.text()[0])["symbols"]["AAPL"][contract.Row.CHANGE] == -20
    assert copy.frame["symbols"]["MSFT"][contract.Row.CHANGE] == 7
    assert copy.seed_moves(newest, ["AAPL"]) == {}  # a move once seeded is a move heard


def test_trades_a_second_over_the_part_of_the_window_the_feed_listened_to():
    rate = TradeRate(started=10.0)
    for at in (10.0, 10.5, 11.0, 11.5):
        rate.add(_trades(0, 0, 299, AAPL=[200, 0, 0, [0, 0, 0, 1]], MSFT=[100, 0, 0, [0, 0, 0, 1]]), at)
    assert rate.per_second(10.9) is None  # 0.9 s listened: too little to say
    assert rate.per_second(12.0) == 600  # 1,200 trades in the 2 s listened to, not in 5
    assert rate.per_second(16.0) == 300 * 2 / 5  # the first two have left the window
    assert rate.per_second(30.0) == 0  # listening, and nothing came: 0, not None
    assert TradeRate(started=30.0).per_second(30.5) is None  # a feed just started


def test_pages_not_kept_are_read_busiest_first():
    newest = NewestTrades(size=5)
    newest.begin(["MSFT"])
    newest.read(pages(MSFT=[trade(10, 1)]))
    rows = {"AAPL": ["Apple", 2, 20, 2000, None, 0, 0], "MSFT": ["Microsoft", 9, 90, 9000, None, 0, 0],
            "ENTG": ["Entegris", 5, 50, 5000, None, 0, 0], "ZZZZ": ["Quiet", 0, 0, 0, None, 0, 0]}
    assert newest.missing(rows) == ["ENTG", "AAPL", "ZZZZ"]  # the page opens sorted by volume


def test_an_allowance_gives_its_burst_at_once_then_its_rate_and_never_saves_up_more():
    allowance = Allowance(rate=5, burst=20, now=0.0)
    assert [allowance.take(0.0) for _ in range(21)] == [True] * 20 + [False]
    assert allowance.take(0.1) is False  # half of one
    assert allowance.take(0.2) is True
    assert allowance.take(0.2) is False
    assert sum(allowance.take(100.0) for _ in range(30)) == 20
