"""`bench codec`: the trades insert through clickhouse/native.py against clickhouse-connect's
own Native codecs ('python', and 'rust' from the clickhouse-connect-core wheel that
requirements-dev.txt pins), into a scratch database with its materialized views, as a worker inserts.

Every path starts from the same columns as a worker has them (id strings, epoch ms,
symbols, integer cents, quantities, partitions, offsets), so the conversions a
library path needs (cents to Decimal, milliseconds to datetime) are part of its cost.
Reports the median and worst time of each path per batch, and each path's encoding alone
where it can be separated (ours: native.block).
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
import time
import uuid
from decimal import Decimal

import clickhouse_connect
from django.conf import settings

from clickhouse import native
from clickhouse.connection import client_settings
from clickhouse.writer import INSERT_SETTINGS, TRADE_COLUMNS, TRADE_WIRE_TYPES, insert_trades
from harness.progress import progress
from harness.scratch import scratch_database
from harness.tally import stored_count

logger = logging.getLogger(__name__)


def _columns(rows: int, batch: int) -> list[list]:
    start = batch * rows
    now_ms = int(time.time() * 1000)
    return [[str(uuid.uuid4()) for _ in range(rows)], [now_ms + i for i in range(rows)],
            [f"S{(start + i) % 3000:04d}" for i in range(rows)], [1000 + i % 5000 for i in range(rows)],
            [1 + i % 900 for i in range(rows)], [batch % 3] * rows, list(range(start, start + rows))]


def _library_rows(columns: list[list]) -> list[list]:
    """The columns as clickhouse-connect's insert takes them: UUIDs, datetimes, Decimals."""
    ids, ms, symbols, cents, quantities, partitions, offsets = columns
    return [[uuid.UUID(value) for value in ids],
            [dt.datetime.fromtimestamp(value / 1000, dt.UTC) for value in ms],
            symbols, [Decimal(value).scaleb(-2) for value in cents], quantities, partitions, offsets]


def run(rows: int, batches: int) -> dict:
    paths = ["native.py", "clickhouse-connect python"]
    try:
        import _ch_core  # noqa: F401 - the compiled codec, from the clickhouse-connect-core wheel

        paths.append("clickhouse-connect rust")
    except ImportError:
        logger.warning("clickhouse-connect-core is not installed: the rust codec is not measured")
    times: dict[str, list[float]] = {path: [] for path in paths}
    encode_ms: list[float] = []
    with scratch_database("codec") as (database, writer, _reader):
        clients = {path: clickhouse_connect.get_client(**client_settings(
            settings.CLICKHOUSE_URL, database=database), native_codec=path.rsplit(" ", 1)[-1])
            for path in paths[1:]}
        contexts = {path: client.create_insert_context("trades", TRADE_COLUMNS, column_oriented=True)
                    for path, client in clients.items()}
        with progress(batches * len(paths), "inserting", "batches") as bar:
            for batch in range(batches):
                columns = _columns(rows, batch)
                started = time.perf_counter()
                native.block(list(zip(TRADE_COLUMNS, TRADE_WIRE_TYPES, columns, strict=True)))
                encode_ms.append((time.perf_counter() - started) * 1000)
                for path in paths:  # each path in turn within a batch: the same conditions for all
                    started = time.perf_counter()
                    if path == "native.py":
                        insert_trades(writer, columns, f"codec-{batch}-ours")
                    else:
                        context = contexts[path]  # the table's types read once, not every insert
                        context.data = _library_rows(columns)
                        context.settings = {**INSERT_SETTINGS, "insert_deduplication_token": f"codec-{batch}-{path}"}
                        clients[path].insert(context=context)
                    times[path].append((time.perf_counter() - started) * 1000)
                    bar.update()
        stored = stored_count(writer)
    figures: dict = {"rows": rows, "batches": batches, "stored": stored, "expected": rows * batches * len(paths),
                     "native_py_encode_median_ms": round(statistics.median(encode_ms), 1)}
    for path, samples in times.items():
        name = path.replace("clickhouse-connect ", "library_").replace("native.py", "native_py")
        figures[f"{name}_median_ms"] = round(statistics.median(samples), 1)
        figures[f"{name}_max_ms"] = round(max(samples), 1)
    return figures
