"""A symbol's trades as a CSV file, streamed from ClickHouse a page at a time.

ClickHouse writes the lines (clickhouse/queries.py EXPORT_CSV_SQL): prices and values as
dollars with two decimals from its Decimals, never through a float, and without Python
formatting a million rows. The file is capped at EXPORT_MAX_ROWS rows (newest first), and
the page says so beside the link.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Generator, Iterator
from itertools import chain

from asgiref.sync import sync_to_async

from clickhouse import queries
from clickhouse.connection import reader

EXPORT_MAX_ROWS = 1_000_000
# What one step sends: the HTTP client reads ClickHouse's answer a few KB at a time, and a
# step costs a hop to a worker thread and back.
CHUNK_BYTES = 256 * 1024
HEADER = (",".join(queries.EXPORT_COLUMNS) + "\n").encode()


def filename(symbol: str, start: dt.datetime, end: dt.datetime) -> str:
    return f"{symbol}-trades-{start:%Y%m%dT%H%M}Z-{end:%Y%m%dT%H%M}Z.csv"


def stream(symbol: str, start: dt.datetime, end: dt.datetime) -> AsyncIterator[bytes]:
    """The file, piece by piece as ClickHouse sends it. The first piece is read here, in the
    caller's thread: ClickHouse away or refusing raises before a byte is sent (a 503, not a
    cut-off file). The rest is asynchronous, because daphne would gather a sync iterator's
    whole output before sending any; each piece is read in a worker thread on a client of the
    download's own, whose response stays open between pieces, so it is shared with no other
    request and never holds Django's one thread for sync code."""
    chunks = _chunks(symbol, start, end)
    return _sent(next(chunks), chunks)


async def _sent(first: bytes, chunks: Generator[bytes, None, None]) -> AsyncIterator[bytes]:
    step = sync_to_async(lambda: next(chunks, None), thread_sensitive=False)
    try:
        yield first
        while (chunk := await step()) is not None:
            yield chunk
    finally:  # finished, or the visitor went away: the client is closed either way
        await sync_to_async(chunks.close, thread_sensitive=False)()


def _chunks(symbol: str, start: dt.datetime, end: dt.datetime) -> Generator[bytes, None, None]:
    client = reader()
    try:
        yield from _coalesced(chain([HEADER], queries.trades_csv(client, symbol, start, end, EXPORT_MAX_ROWS)))
    finally:
        client.close()


def _coalesced(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """`chunks` joined into pieces of about CHUNK_BYTES."""
    pending: list[bytes] = []
    size = 0
    for chunk in chunks:
        pending.append(chunk)
        size += len(chunk)
        if size >= CHUNK_BYTES:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)
