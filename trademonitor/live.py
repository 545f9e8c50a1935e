"""The dashboard's live state, as plain data: the snapshot a client starts from and
the deltas it may apply on top (pure logic, no I/O).

Money travels as integer cents and times as epoch milliseconds, so the browser
adds exact integers and shows exactly ClickHouse's numbers.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import contract
from clickhouse.queries import Snapshot
from contract import Last, Row, Totals


def cents(amount: Decimal | None) -> int:
    return int(amount * 100) if amount is not None else 0


def epoch_ms(moment: dt.datetime) -> int:
    """A moment as the contract's times are: milliseconds since the epoch."""
    return int(moment.timestamp() * 1000)


def untraded_row(name: str, whales: int) -> list[Any]:
    """A contract.Row for a symbol without a trade."""
    return [name, 0, 0, 0, None, whales, 0]


def snapshot_message(snapshot: Snapshot, names: dict[str, str], whales: dict[str, int],
                     sentiment_watermarks: dict[int, int], whale_quantity: int,
                     alerts: list[dict[str, Any]]) -> contract.SnapshotFrame:
    """Every known symbol (with or without trades), with the watermarks of the totals
    and, separately, of the whale counts (the sentiment job's own stream), and the
    latest max-volume alerts (newest first, as VolumeAlert.as_json())."""
    symbols = {symbol: untraded_row(name, whales.get(symbol, 0)) for symbol, name in names.items()}
    for symbol, totals in snapshot.totals.items():
        # A symbol traded but not (or no longer) listed is shown under its own name. ClickHouse
        # keeps no price move: LiveCopy learns those from the deltas it hears.
        symbols[symbol] = [names.get(symbol, symbol), totals.trades, totals.shares, cents(totals.volume),
                           [*totals.last_key, cents(totals.last_price)], whales.get(symbol, 0), 0]
    return {
        "type": contract.SNAPSHOT,
        "watermarks": {str(partition): offset for partition, offset in snapshot.watermarks.items()},
        "sentiment_watermarks": {str(partition): offset for partition, offset in sentiment_watermarks.items()},
        "whale_quantity": whale_quantity,
        "symbols": symbols,
        "alerts": alerts,
    }


class DeltaFilter:
    """Lets through only the deltas a snapshot does not already count.

    A delta is one partition's share of a worker flush, one insert, which ClickHouse
    holds all or nothing of (one block in `symbol_totals`), and offsets only grow
    along a partition: a delta is counted by the snapshot exactly when its offsets are
    at or below the snapshot's watermark of its partition (clickhouse/queries.py
    explains why the watermarks are exact).
    """

    def __init__(self, topic: str, watermarks: dict[str, dict[int, int]]):
        """`watermarks`: per delta type ("trades.delta", "sentiment.delta"), the snapshot's
        watermarks of the table that type of delta adds to."""
        self.topic = topic
        self.watermarks = {kind: dict(marks) for kind, marks in watermarks.items()}

    def is_new(self, delta: contract.Delta) -> bool:
        if delta.get("topic") != self.topic or delta.get("type") not in self.watermarks:
            return False
        marks = self.watermarks[delta["type"]]
        return any(int(last) > marks.get(int(partition), -1) for partition, (_first, last) in delta["offsets"].items())


    def advance(self, delta: contract.Delta) -> None:
        """Count `delta` as held: the watermarks of its partitions move to its last offsets."""
        marks = self.watermarks[delta["type"]]
        for partition, (_first, last) in delta["offsets"].items():
            marks[int(partition)] = max(marks.get(int(partition), -1), int(last))


class LiveCopy:
    """A web process's copy of the snapshot, kept current with the deltas its clients get.

    Built from one ClickHouse snapshot; every delta the hub receives is added once, if
    the copy does not count it yet (its DeltaFilter, advanced as deltas are added), so
    it is always that snapshot plus exactly the deltas after it, with watermarks that
    say so. A client served from it filters what follows by those watermarks, as it
    would a snapshot read from ClickHouse. The hub drops it on a gap and rebuilds it.

    It also keeps each symbol's last price move (Row.CHANGE), which ClickHouse does not
    store, so a page just opened shows one; moves heard before a re-read carry over
    (keep_changes).
    """

    def __init__(self, frame: contract.SnapshotFrame, topic: str, recent_alerts: int):
        self.frame = frame
        self.filter = DeltaFilter(topic, {
            contract.TRADES_DELTA: {int(p): offset for p, offset in frame["watermarks"].items()},
            contract.SENTIMENT_DELTA: {int(p): offset for p, offset in frame["sentiment_watermarks"].items()},
        })
        self.recent_alerts = recent_alerts
        self.unlisted_whales: dict[str, int] = {}  # whales of symbols without a row yet, as snapshot_message
        self._text: str | None = None

    def add(self, message: contract.Message) -> None:
        """Any message the hub receives: alerts revise the list, deltas add what the copy lacks."""
        if message["type"] == contract.ALERTS_NEW:
            self.add_alerts(message["alerts"])
        else:
            self._add_delta(message)

    def _add_delta(self, delta: contract.Delta) -> None:
        if not self.filter.is_new(delta):
            return
        self.filter.advance(delta)
        self._text = None
        rows = self.frame["symbols"]
        if delta["type"] == contract.SENTIMENT_DELTA:
            for symbol, count in delta["whales"].items():
                if symbol in rows:
                    rows[symbol][Row.WHALES] += count
                else:
                    self.unlisted_whales[symbol] = self.unlisted_whales.get(symbol, 0) + count
            return
        for symbol, totals in delta["symbols"].items():
            row = rows.get(symbol)
            if row is None:
                row = rows[symbol] = untraded_row(symbol, self.unlisted_whales.pop(symbol, 0))
            row[Row.TRADES] += totals[Totals.TRADES]
            row[Row.SHARES] += totals[Totals.SHARES]
            row[Row.VOLUME] += totals[Totals.VOLUME]
            last, before = totals[Totals.LAST], row[Row.LAST]
            if before is None or last[:Last.PRICE] > before[:Last.PRICE]:  # by (ms, partition, offset)
                row[Row.LAST] = list(last)
                if before is not None and last[Last.PRICE] != before[Last.PRICE]:
                    row[Row.CHANGE] = last[Last.PRICE] - before[Last.PRICE]  # as the page does with each delta

    def keep_changes(self, older: LiveCopy | None) -> None:
        """Takes the price moves `older` heard, for symbols whose last trade is the same here:
        ClickHouse's snapshot has none, and a copy is read again every minute."""
        if older is None:
            return
        rows, older_rows = self.frame["symbols"], older.frame["symbols"]
        for symbol, row in rows.items():
            kept = older_rows.get(symbol)
            if kept is not None and row[Row.LAST] is not None and kept[Row.LAST] == row[Row.LAST]:
                row[Row.CHANGE] = kept[Row.CHANGE]
        self._text = None

    def seed_moves(self, newest: NewestTrades, symbols: Iterable[str]) -> dict[str, int]:
        """Moves for those of `symbols` without one, from their kept first pages, where the
        page's newest trade is the row's last: what a feed just started could not hear."""
        moves = {}
        rows = self.frame["symbols"]
        for symbol in symbols:
            row = rows.get(symbol)
            if row is None or row[Row.CHANGE] or row[Row.LAST] is None:
                continue
            found = newest.last_move(symbol)
            if found is None:
                continue
            last, move = found
            if move and last == row[Row.LAST]:
                row[Row.CHANGE] = moves[symbol] = move
        if moves:
            self._text = None
        return moves

    def add_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """New or revised alerts: the newest `recent_alerts` windows, newest first, as the snapshot reads them."""
        by_window = {alert["window_start"]: alert for alert in self.frame["alerts"]}
        by_window.update((alert["window_start"], alert) for alert in alerts)
        newest = sorted(by_window, reverse=True)[:self.recent_alerts]
        self.frame["alerts"] = [by_window[window] for window in newest]
        self._text = None

    def text(self) -> tuple[str, dict[str, dict[int, int]]]:
        """The snapshot frame as JSON (encoded once per change), and its watermarks per delta type."""
        if self._text is None:
            marks = self.filter.watermarks
            self.frame["watermarks"] = {str(p): offset for p, offset in marks[contract.TRADES_DELTA].items()}
            self.frame["sentiment_watermarks"] = {str(p): offset
                                                  for p, offset in marks[contract.SENTIMENT_DELTA].items()}
            self._text = contract.encode(self.frame)
        return self._text, {kind: dict(marks) for kind, marks in self.filter.watermarks.items()}


class NewestTrades:
    """Each symbol's newest trades, a drill-down's first page, kept from ClickHouse reads and
    the deltas after them, so opening a drill-down costs no query.

    A symbol's page is read from ClickHouse once: `begin` before the read, `read` with its
    rows after. While the read runs, the trades of every delta are held for it, so a trade
    stored meanwhile is counted whether the read saw it or not; a trade is the same trade
    when its (partition, offset) is, so none counts twice. From then on each delta's
    `newest` trades are merged in. A delta without them (a worker reading a backlog) drops
    its symbols' pages until they are read again.

    A page is contract.TRADE_RECORDs end to end, newest first, as the deltas bring them: a
    fraction of the memory and the work of Python lists (docs/benchmarks/design.md). Pages
    are replaced whole, so a view in another thread reads one without a lock.
    """

    def __init__(self, size: int = contract.FIRST_PAGE):
        self.size = size
        self.pages: dict[str, bytes] = {}
        self._reading: dict[str, list[bytes] | None] = {}  # symbol -> records since its read began; None: spoilt
        self.backlog = False  # a delta without its trades came since the flag was last cleared

    def page(self, symbol: str, limit: int | None = None) -> list[list[Any]] | None:
        """`symbol`'s newest `limit` trades (all kept, by default) as contract.Trade: fewer
        only if it has no more. None if not kept."""
        page = self.pages.get(symbol)
        if page is None:
            return None
        newest = page[:(limit or self.size) * contract.TRADE_RECORD.size]
        return [contract.record_trade(record) for record in contract.records(newest)]

    def last_move(self, symbol: str) -> tuple[list[int], int] | None:
        """`symbol`'s newest kept trade as a contract.Last, and its price less that of the
        latest earlier kept trade at another price (0 if every kept trade has its price);
        None without a page or a trade."""
        records = contract.records(self.pages.get(symbol, b""))
        if not records:
            return None
        ms, _low, _high, partition, offset, price, _quantity = contract.TRADE_RECORD.unpack(records[0])
        last = [ms, partition, offset, price]
        for record in records[1:]:
            *_place, earlier, _quantity = contract.TRADE_RECORD.unpack(record)
            if earlier != price:
                return last, price - earlier
        return last, 0

    def missing(self, rows: dict[str, list[Any]]) -> list[str]:
        """The symbols of snapshot `rows` with no page kept, the busiest (by volume) first: the
        dashboard opens sorted by volume, so its first rows get their pages, and the moves
        seeded from them, first."""
        return sorted((symbol for symbol in rows if symbol not in self.pages),
                      key=lambda symbol: rows[symbol][Row.VOLUME], reverse=True)

    def begin(self, symbols: list[str]) -> None:
        """A read of `symbols`' newest trades is about to start (one at a time)."""
        self._reading = {symbol: [] for symbol in symbols}

    def read(self, pages: dict[str, bytes]) -> None:
        """The read begun last: each symbol's newest trades as ClickHouse had them."""
        for symbol, held in self._reading.items():
            if held is not None:
                self.pages[symbol] = self._merged(b"", b"".join([pages.get(symbol, b""), *held]))
        self._reading = {}

    def abandon(self) -> None:
        """The read begun last failed."""
        self._reading = {}

    def add(self, delta: contract.TradesDelta) -> None:
        newest = delta.get("newest")
        for symbol in delta["symbols"]:
            trades = newest.get(symbol) if newest is not None else None
            if trades is None:
                self.backlog = True
                self.pages.pop(symbol, None)
                if symbol in self._reading:
                    self._reading[symbol] = None
                continue
            page = self.pages.get(symbol)
            if page is not None:
                self.pages[symbol] = self._merged(page, trades)
            held = self._reading.get(symbol)
            if held is not None:
                held.append(trades)

    def clear(self) -> None:
        """Forget every page, and the read under way: deltas went by unseen."""
        self.pages, self._reading = {}, {}

    def _merged(self, page: bytes, trades: bytes) -> bytes:
        size = contract.TRADE_RECORD.size
        if page and trades and trades[-size:] > page[:size]:  # the usual case: all newer, each in order
            return (trades + page)[:self.size * size]
        unique = {record[contract.RECORD_IDENTITY]: record for record in contract.records(page + trades)}
        return b"".join(sorted(unique.values(), reverse=True)[:self.size])


NEW, REPEAT, GAP = "new", "repeat", "gap"


class Continuity:
    """Whether a delta follows on from the last one of its kind, partition by partition.

    Every worker flush publishes a delta a partition with the offsets it consumed
    ("consumed", dead letters included), so the deltas of a partition cover
    consecutive offsets.
    A delta that starts past where the last one ended means one went missing: a
    worker killed between insert and publish, or Redis away. Clients must then
    start again from a snapshot. A delta that ends before that point is a repeat.
    (A worker resuming from ClickHouse's position may overlap the last delta with
    offsets of dead letters only, which change no totals: that is new, not a gap.)
    """

    def __init__(self) -> None:
        self.next: dict[tuple[str, str], int] = {}  # (delta type, partition) -> next offset expected

    def check(self, delta: contract.Delta) -> str:
        kind, consumed = delta["type"], delta.get("consumed", {})
        spans = [((kind, partition), first, last) for partition, (first, last) in consumed.items()]
        gap = any(key in self.next and first > self.next[key] for key, first, _last in spans)
        repeat = bool(spans) and all(key in self.next and last < self.next[key] for key, _first, last in spans)
        for key, _first, last in spans:
            self.next[key] = last + 1 if gap else max(self.next.get(key, 0), last + 1)
        return GAP if gap else REPEAT if repeat else NEW

    def reset(self) -> None:
        self.next.clear()


class Coalescer:
    """Deltas merged per symbol between two sends (at most ten a second per client)."""

    def __init__(self) -> None:
        self.pending: dict[str, list[Any]] = {}
        self.whales: dict[str, int] = {}
        self.trades = 0
        self.newest_ms = 0

    def add(self, delta: contract.Delta) -> None:
        if delta["type"] == contract.SENTIMENT_DELTA:
            for symbol, count in delta["whales"].items():
                self.whales[symbol] = self.whales.get(symbol, 0) + count
            return
        for symbol, totals in delta["symbols"].items():
            last = totals[Totals.LAST]
            self.trades += totals[Totals.TRADES]
            self.newest_ms = max(self.newest_ms, last[Last.MS])
            entry = self.pending.get(symbol)
            if entry is None:
                self.pending[symbol] = [*totals[:Totals.LAST], list(last)]
                continue
            for field in (Totals.TRADES, Totals.SHARES, Totals.VOLUME):
                entry[field] += totals[field]
            if last[:Last.PRICE] > entry[Totals.LAST][:Last.PRICE]:  # later by (ms, partition, offset)
                entry[Totals.LAST] = list(last)

    def take(self) -> contract.DeltaFrame | None:
        """The merged update since the last take, as sent to the browser."""
        if not self.pending and not self.whales:
            return None
        update: contract.DeltaFrame = {"type": contract.DELTA, "trades": self.trades, "newest_ms": self.newest_ms,
                                       "symbols": self.pending, "whales": self.whales}
        self.pending, self.whales, self.trades, self.newest_ms = {}, {}, 0, 0
        return update


def merge(deltas: list[contract.Delta]) -> contract.DeltaFrame | None:
    """The deltas of one window as the single update a browser gets (None if nothing)."""
    coalescer = Coalescer()
    for delta in deltas:
        coalescer.add(delta)
    return coalescer.take()


class TradeRate:
    """Trades stored a second, over the last `window` seconds of the deltas a feed heard: the
    figure every page shows. A page that counted the frames it got from when it opened
    counted a worker's catch-up after a stall as trades of its first seconds
    (docs/benchmarks/design.md)."""

    def __init__(self, started: float, window: float = 5.0):
        self.started = started  # when the feed began to listen (monotonic seconds)
        self.window = window
        self._heard: deque[tuple[float, int]] = deque()  # (when, trades) of each delta
        self._trades = 0  # in _heard

    def add(self, delta: contract.TradesDelta, at: float) -> None:
        trades = sum(totals[Totals.TRADES] for totals in delta["symbols"].values())
        self._heard.append((at, trades))
        self._trades += trades

    def per_second(self, now: float) -> float | None:
        """Over the part of the window listened to; None under a second of it (too little to say)."""
        while self._heard and self._heard[0][0] < now - self.window:
            self._trades -= self._heard.popleft()[1]
        listened = min(self.window, now - self.started)
        return None if listened < 1.0 else self._trades / listened


class Allowance:
    """At most `rate` a second on average, `burst` at once: how many first pages a client's
    subscribes are answered with from memory. Past it, the client asks the API, whose rate
    limit is per address: a socket sending subscribe after subscribe gets no more than that."""

    def __init__(self, rate: float, burst: int, now: float):
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._at = now

    def take(self, now: float) -> bool:
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class Unread:
    """What a client has been sent and not yet acknowledged (contract.Ack), in bytes.

    The server cannot see a socket's buffer through ASGI: daphne queues whatever a
    consumer sends, for as long as the client does not read. The client's
    acknowledgements say how far it has read, so the server can stop a client that
    falls behind before the queue grows without bound.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.frames = 0  # sent since connecting
        self.acknowledged = 0
        self._ends: deque[int] = deque()  # bytes sent up to the end of each unacknowledged frame
        self._sent = 0
        self._read = 0

    def sent(self, size: int) -> bool:
        """Count a frame about to be sent; False when it would take the client past the limit."""
        if self._sent + size - self._read > self.limit:
            return False
        self.frames += 1
        self._sent += size
        self._ends.append(self._sent)
        return True

    def acknowledge(self, frames: int) -> bool:
        """The client has received its first `frames` frames (an earlier count, arriving
        late, changes nothing); False if it claims more than it was sent."""
        if frames > self.frames:
            return False
        while self.acknowledged < frames:
            self._read = self._ends.popleft()
            self.acknowledged += 1
        return True

    @property
    def bytes(self) -> int:
        return self._sent - self._read


def stages(window: list[contract.Delta], sent: int) -> list[contract.StagedSpan]:
    """The stamps of a window's trades deltas, each with the time the hub sent them."""
    return [{"partition": partition, "offsets": span, "stamps": {**delta["stamps"], "sent": sent}}
            for delta in window if delta["type"] == contract.TRADES_DELTA and "stamps" in delta
            for partition, span in delta["offsets"].items()]
