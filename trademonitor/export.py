"""A symbol's trades as a CSV file, streamed from ClickHouse a page at a time.

Money stays exact: prices and values are written from ClickHouse's Decimals as dollars
with two decimals, never through a float. The file is capped at EXPORT_MAX_ROWS rows
(newest first), and the page says so beside the link.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator, Iterable, Iterator

from asgiref.sync import sync_to_async

from clickhouse import queries

EXPORT_MAX_ROWS = 1_000_000
HEADER = ("trade_id", "time_utc", "symbol", "price", "quantity", "value")
ROWS_PER_CHUNK = 5_000  # one write to the socket


def filename(symbol: str, start: dt.datetime, end: dt.datetime) -> str:
    return f"{symbol}-trades-{start:%Y%m%dT%H%M}Z-{end:%Y%m%dT%H%M}Z.csv"


def csv_chunks(trades: Iterable[queries.Trade]) -> Iterator[bytes]:
    """The header, then the trades as CSV lines, ROWS_PER_CHUNK to a chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for count, trade in enumerate(trades, 1):
        writer.writerow((trade.id, iso_utc(trade.ts), trade.symbol, f"{trade.price:.2f}", trade.quantity,
                         f"{trade.price * trade.quantity:.2f}"))
        if count % ROWS_PER_CHUNK == 0:
            yield _drain(buffer)
    yield _drain(buffer)


def iso_utc(moment: dt.datetime) -> str:
    """2026-11-28T15:04:05.123Z: ClickHouse's UTC time, to the millisecond."""
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _drain(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode()


async def asynchronous(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Each chunk read in Django's sync thread (ClickHouse calls block), sent as it comes:
    daphne would otherwise collect a sync iterator's whole output before sending any."""
    step = sync_to_async(lambda: next(chunks, None))
    while (chunk := await step()) is not None:
        yield chunk
