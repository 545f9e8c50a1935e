"""`bench export`: one symbol's trades downloaded as CSV through daphne, as the drill-down's
"Download CSV" link does: time to the first byte and to the last, rows a second,
daphne's memory before and at its peak, which show whether the file is streamed or
gathered, and a drill-down's first page requested meanwhile, one after another, which
shows whether the download holds up the site's other requests. The file is checked
against ClickHouse: the newest EXPORT_MAX_ROWS trades, their count and the sum of their
values."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from django.conf import settings

from benchmarks.query import load
from benchmarks.stats import percentile
from harness.pool import database_url, free_port, memory_mb, start_web, stop_pool
from harness.scratch import scratch_database, scratch_django_database
from trademonitor.export import EXPORT_MAX_ROWS
from trademonitor.symbols import bundled_universe

WEB_LOG = Path(settings.BASE_DIR) / ".devservices" / "bench-export-daphne.log"
# The file's truth: the newest trades of its range, as many as the cap allows.
NEWEST_SQL = """
    SELECT count(), sum(value), argMax(id, (ts, id)), argMin(id, (ts, id)) FROM (
        SELECT id, ts, price * quantity AS value FROM trades
        WHERE symbol = {symbol:String} AND ts >= {start:DateTime64(3, 'UTC')}
        ORDER BY ts DESC, id DESC LIMIT {limit:UInt32})
"""


def run(trades: int) -> dict:
    symbol = bundled_universe()[0]
    figures: dict = {"trades": trades, "symbol": symbol, "cap_rows": EXPORT_MAX_ROWS}
    with scratch_database("export") as (database, writer, _reader), scratch_django_database() as django_database:
        figures["load_seconds"] = round(load(writer, trades, symbols=[symbol]), 1)
        port = free_port()
        web = start_web({"CLICKHOUSE_URL": database_url(settings.CLICKHOUSE_URL, database),
                         "CLICKHOUSE_READONLY_URL": database_url(settings.CLICKHOUSE_READONLY_URL, database),
                         "DATABASE_URL": django_database}, port, log=WEB_LOG)
        try:
            figures["daphne_rss_before_mb"] = round(memory_mb(web.pid), 1)
            base = f"http://127.0.0.1:{port}/api/symbols/{symbol}"
            with _requests_beside(f"{base}/trades?limit=50", figures):
                body, start = _download(f"{base}/trades.csv?minutes=1440", figures)
            figures["daphne_peak_rss_mb"] = round(memory_mb(web.pid, "VmHWM"), 1)
        finally:
            stop_pool(web, 20)
        rows = list(csv.DictReader(io.StringIO(body.decode())))
        count, value, newest, oldest = writer.query(
            NEWEST_SQL, parameters={"symbol": symbol, "start": start, "limit": EXPORT_MAX_ROWS}).result_rows[0]
    exact = (len(rows) == count and sum(Decimal(r["value"]) for r in rows) == value
             and rows[0]["trade_id"] == str(newest) and rows[-1]["trade_id"] == str(oldest))
    figures.update({"rows": len(rows), "exact": exact,
                    "rows_per_second": round(len(rows) / figures["seconds"])})
    if not exact:
        raise RuntimeError(f"the CSV differs from ClickHouse: {len(rows)} rows against {count}")
    return figures


@contextmanager
def _requests_beside(url: str, figures: dict) -> Iterator[None]:
    """`url` requested over and over while the block runs: p50, p99 and max ms, and the count."""
    done, times = threading.Event(), []

    def ask() -> None:
        while not done.is_set():
            started = time.perf_counter()
            urllib.request.urlopen(url, timeout=60).read()
            times.append((time.perf_counter() - started) * 1000)

    thread = threading.Thread(target=ask)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
    figures.update({"beside_requests": len(times), "beside_p50_ms": round(percentile(times, 0.5), 1),
                    "beside_p99_ms": round(percentile(times, 0.99), 1), "beside_max_ms": round(max(times), 1)})


def _download(url: str, figures: dict) -> tuple[bytes, dt.datetime]:
    """The file, and the start of its range (from its name, to the minute)."""
    started = time.perf_counter()
    chunks = []
    with urllib.request.urlopen(url, timeout=600) as response:
        [stamp] = re.findall(r"-trades-(\d{8}T\d{4})Z-", response.headers["Content-Disposition"])
        first = response.read1()
        figures["first_byte_ms"] = round((time.perf_counter() - started) * 1000, 1)
        chunks.append(first)
        while chunk := response.read1():
            chunks.append(chunk)
    figures["seconds"] = round(time.perf_counter() - started, 2)
    body = b"".join(chunks)
    figures["megabytes"] = round(len(body) / 1e6, 1)
    return body, dt.datetime.strptime(stamp, "%Y%m%dT%H%M").replace(tzinfo=dt.UTC)
