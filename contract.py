"""The wire contract between the workers and the web app, and between the web app and
the browser: channel-layer group names, message types, and the shape of every message.

Both sides import this module and nothing else of each other. It imports nothing of
the project. Compact arrays (a symbol's totals, a trade, a candle) go to the browser
as JSON arrays to keep frames small; each array's fields are named here once, by
index, and the page reads the same layout (`layout()`, rendered into the page).

Money is integer cents and time is epoch milliseconds everywhere on the wire, so
both sides add exact integers.
"""

from __future__ import annotations

import json
import re
import struct
from enum import IntEnum
from typing import Any, Final, Literal, NotRequired, TypedDict

# -- channel-layer groups the workers publish to, and the web app listens on ----------
TRADES_GROUP: Final = "trades.deltas"
SENTIMENT_GROUP: Final = "sentiment.deltas"
ALERTS_GROUP: Final = "alerts.live"
DELTA_GROUPS: Final = (TRADES_GROUP, SENTIMENT_GROUP, ALERTS_GROUP)

# -- worker -> web messages, by "type" ---------------------------------------------------
TRADES_DELTA: Final = "trades.delta"
SENTIMENT_DELTA: Final = "sentiment.delta"
ALERTS_NEW: Final = "alerts.new"
COUNTED_DELTAS: Final = (TRADES_DELTA, SENTIMENT_DELTA)  # deltas a snapshot's watermarks count

# -- web -> browser frames, by "type" ----------------------------------------------------
SNAPSHOT: Final = "snapshot"
DELTA: Final = "delta"
TRADES: Final = "trades"
STATUS: Final = "status"
ALERTS: Final = "alerts"
MOVES: Final = "moves"
PAGE: Final = "page"  # a drill-down's first page, the answer to a subscribe that opens it
SUBSCRIBE: Final = "subscribe"  # browser -> web: the symbols whose drill-down is open
MAX_SUBSCRIPTIONS: Final = 20  # symbols a client may follow at once (a longer list is refused)
ACK: Final = "ack"  # browser -> web: how many frames it has received, so the server can bound what is unread
ACK_EVERY_SECONDS: Final = 0.5  # how often a reading client acknowledges; DASHBOARD_UNREAD_BYTES allows for it

# WebSocket close codes.
BAD_REQUEST: Final = 4400
LOGIN_REQUIRED: Final = 4401
RESYNC: Final = 4503  # reconnect for a fresh snapshot: a delta went missing, the feed broke, or the client fell behind


# -- compact arrays, field by index -------------------------------------------------------
class Last(IntEnum):
    """A symbol's latest trade: ordered by (ms, partition, offset) everywhere."""

    MS = 0
    PARTITION = 1
    OFFSET = 2
    PRICE = 3  # cents


class Totals(IntEnum):
    """A symbol's change in a delta: [trades, shares, volume cents, Last]."""

    TRADES = 0
    SHARES = 1
    VOLUME = 2
    LAST = 3


class Row(IntEnum):
    """A symbol in the snapshot: [name, trades, shares, volume cents, Last or null, whales, change]."""

    NAME = 0
    TRADES = 1
    SHARES = 2
    VOLUME = 3
    LAST = 4
    WHALES = 5
    CHANGE = 6  # cents: its last price move between two deltas the web process heard (0: none heard yet)


class Trade(IntEnum):
    """One trade of a drill-down: [id, epoch ms, price cents, quantity]."""

    ID = 0
    MS = 1
    PRICE = 2
    QUANTITY = 3


FIRST_PAGE: Final = 50  # trades on a drill-down's first page: the newest the web keeps of each symbol

# A trade in a delta's `newest`, as fixed-size bytes: its place in a drill-down first (time,
# then the id's last eight bytes before its first eight, the order ClickHouse gives UUIDs, so
# "0…0-0001-0000-0…0" sorts before "0…0-0000-ffff-0…0"), then where it was read from
# (partition, offset: it names a stored trade once, even if two messages share an id),
# price cents and quantity. Big-endian, so records compare as their trades sort.
TRADE_RECORD: Final = struct.Struct(">Q8s8sHQqI")
RECORD_IDENTITY: Final = slice(24, 34)  # partition and offset


def trade_record(trade_id: str, ms: int, price: int, quantity: int, partition: int, offset: int) -> bytes:
    raw = bytes.fromhex(trade_id.replace("-", ""))
    return TRADE_RECORD.pack(ms, raw[8:], raw[:8], partition, offset, price, quantity)


def record_trade(record: bytes) -> list[Any]:
    """A record as a Trade (the id lower-case, as ClickHouse writes it)."""
    ms, low, high, _partition, _offset, price, quantity = TRADE_RECORD.unpack(record)
    hex_id = (high + low).hex()
    return [f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}", ms, price, quantity]


def records(data: bytes) -> list[bytes]:
    """Records laid end to end, apart."""
    size = TRADE_RECORD.size
    return [data[start:start + size] for start in range(0, len(data), size)]


class Candle(IntEnum):
    """One candle of a symbol: [start ms, open, high, low, close (cents), shares, volume cents, trades]."""

    START = 0
    OPEN = 1
    HIGH = 2
    LOW = 3
    CLOSE = 4
    SHARES = 5
    VOLUME = 6
    TRADES = 7


LAYOUTS: Final = (Last, Totals, Row, Trade, Candle)


def layout() -> dict[str, dict[str, int]]:
    """Every compact array's field indexes, for the browser: {"Last": {"price": 3, ...}, ...},
    how often it acknowledges frames ({"Ack": {"every_ms": ...}}) and how many symbols it may
    follow ({"Subscribe": {"max_symbols": ...}})."""
    fields = {kind.__name__: {field.name.lower(): field.value for field in kind} for kind in LAYOUTS}
    return {**fields, "Ack": {"every_ms": int(ACK_EVERY_SECONDS * 1000)},
            "Subscribe": {"max_symbols": MAX_SUBSCRIPTIONS}}


# -- message shapes ---------------------------------------------------------------------
Spans = dict[str, list[int]]  # partition (as text) -> [first offset, last offset]


class Stamps(TypedDict):
    """When a delta's trades passed each stage, epoch ms (wall clocks of one deployment), so a
    trade's time to the screen can be split exactly: `polls` is [first offset, ms] for each
    poll that fetched some of them (a trade was polled at the last entry at or below its
    offset); then the flush began, its insert returned, the delta was handed to the
    publisher, the hub received it and sent it."""

    polls: list[list[int]]
    flushed: int
    inserted: int
    published: int
    received: NotRequired[int]  # added by the hub
    sent: NotRequired[int]  # added by the hub, in the frame


class TradesDelta(TypedDict):
    """One partition's share of an ingest flush (one insert): what it added per symbol.
    `offsets` span its trades; `consumed` every message it consumed (dead letters too),
    so a lost delta shows as a gap."""

    type: Literal["trades.delta"]
    topic: str
    offsets: Spans
    consumed: NotRequired[Spans]
    symbols: dict[str, list[Any]]  # symbol -> Totals
    # symbol -> its newest trades here as TRADE_RECORDs, newest first, at most FIRST_PAGE; left
    # out of a large delta (a backlog being read), which says only that those symbols changed.
    newest: NotRequired[dict[str, bytes]]
    stamps: NotRequired[Stamps]


class SentimentDelta(TypedDict):
    type: Literal["sentiment.delta"]
    topic: str
    offsets: Spans
    consumed: NotRequired[Spans]
    whales: dict[str, int]  # symbol -> new whale trades


class AlertsMessage(TypedDict):
    type: Literal["alerts.new"]
    topic: str
    alerts: list[dict[str, Any]]


Delta = TradesDelta | SentimentDelta
Message = TradesDelta | SentimentDelta | AlertsMessage  # what workers publish


class SnapshotFrame(TypedDict):
    type: Literal["snapshot"]
    watermarks: dict[str, int]  # partition -> highest offset the totals count
    sentiment_watermarks: dict[str, int]
    whale_quantity: int
    symbols: dict[str, list[Any]]  # symbol -> Row
    alerts: list[dict[str, Any]]


class StagedSpan(TypedDict):
    """A trades delta's partition, offsets and Stamps, in the frame that carried it."""

    partition: str
    offsets: list[int]
    stamps: Stamps


class DeltaFrame(TypedDict):
    """What a browser gets at most ten times a second: a window's deltas merged."""

    type: Literal["delta"]
    trades: int
    newest_ms: int
    symbols: dict[str, list[Any]]  # symbol -> Totals
    whales: dict[str, int]
    stages: NotRequired[list[StagedSpan]]  # for measurement (bench latency); the page ignores it


class MovesFrame(TypedDict):
    """Price moves (cents) of symbols whose snapshot row had none (Row.CHANGE 0), worked out
    from their first pages once a web process has read them: a feed just started knows none."""

    type: Literal["moves"]
    moves: dict[str, int]


class StatusFrame(TypedDict):
    """Every STATUS_INTERVAL, the same for every client of a web process."""

    type: Literal["status"]
    lag: int  # messages not yet consumed, over the running workers
    workers: int  # running workers
    trades_per_second: int | None  # stored, over the last 5 s the web process heard; None in its first second


class TradesFrame(TypedDict):
    type: Literal["trades"]
    symbol: str
    trades: list[list[Any]]  # Trade, newest first


class PageFrame(TypedDict):
    """web -> browser, for each symbol a subscribe adds: its drill-down's first page from
    the web process's memory, or None (not kept, or past the client's allowance of pages
    a second): the browser then asks the API for it."""

    type: Literal["page"]
    symbol: str
    trades: list[list[Any]] | None  # Trade, newest first, at most FIRST_PAGE
    next: str | None  # the API's cursor for the page after; None: no more


class Ack(TypedDict):
    """browser -> web, about once a second while frames arrive: frames received since connecting."""

    type: Literal["ack"]
    frames: int



def ack(frames: int) -> str:
    return json.dumps(Ack(type=ACK, frames=frames))


def encode(frame: Any) -> str:
    """A frame as the server sends it: JSON without the space json.dumps puts after every
    `,` and `:`, a tenth of a snapshot's bytes (docs/benchmarks/design.md)."""
    return json.dumps(frame, separators=(",", ":"))


def encode_delta_frame(frame: DeltaFrame) -> str:
    """A delta frame as JSON whose first keys are type, trades and newest_ms, in that order,
    so a client can read them from the frame's first bytes (`delta_counts`)."""
    ordered = {"type": frame["type"], "trades": frame["trades"], "newest_ms": frame["newest_ms"],
               "symbols": frame["symbols"], "whales": frame["whales"]}
    if "stages" in frame:
        ordered["stages"] = frame["stages"]
    return encode(ordered)


_DELTA_COUNTS = re.compile(r'^\{"type":"delta","trades":(\d+),"newest_ms":(\d+)')
_TYPE_PREFIX = '{"type":"'


def delta_counts(text: str) -> tuple[int, int] | None:
    """(trades, newest ms) of a frame made by encode_delta_frame, without decoding it whole;
    None for any other frame."""
    match = _DELTA_COUNTS.match(text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def frame_type(text: str) -> str | None:
    """The type of a frame the server encoded with "type" first (every frame here), from its first bytes."""
    if not text.startswith(_TYPE_PREFIX):
        return None
    end = text.find('"', len(_TYPE_PREFIX))
    return text[len(_TYPE_PREFIX):end] if end > 0 else None
