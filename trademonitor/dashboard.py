"""What the dashboard reads: the snapshot with names, a symbol's newest trades,
and the ingestion status. Blocking calls, run from the web views and the
WebSocket consumer."""

from __future__ import annotations

import datetime as dt
import threading
import time

from django.db.models import Count, Sum
from django.utils import timezone

from clickhouse import queries
from clickhouse.connection import reader
from trademonitor.live import cents, snapshot_message as build_snapshot_message
from trademonitor.models import Symbol, WorkerStatus

SNAPSHOT_TTL = 1.0  # seconds: clients connecting within the same second share one read

_local = threading.local()
_snapshot_lock = threading.Lock()
_snapshot_cache: tuple[float, dict] | None = None


def client():
    """One read-only ClickHouse client per thread (a client is not thread-safe)."""
    if getattr(_local, "client", None) is None:
        _local.client = reader()
    return _local.client


def symbol_names() -> dict[str, str]:
    return dict(Symbol.objects.values_list("symbol", "name"))


def snapshot_message() -> dict:
    """The snapshot a new client starts from; consistent however old (see live.DeltaFilter)."""
    global _snapshot_cache
    with _snapshot_lock:
        if _snapshot_cache is None or time.monotonic() - _snapshot_cache[0] > SNAPSHOT_TTL:
            message = build_snapshot_message(queries.snapshot(client()), symbol_names())
            _snapshot_cache = (time.monotonic(), message)
        return _snapshot_cache[1]


def trade_json(trade: queries.Trade) -> list:
    """[id, epoch ms, price cents, quantity] of one trade."""
    return [str(trade.id), int(trade.ts.timestamp() * 1000), cents(trade.price), trade.quantity]


def newest_trades(symbol: str, limit: int = 20) -> list[list]:
    return [trade_json(trade) for trade in queries.trades_page(client(), symbol, limit=limit).trades]


def ingestion_status() -> dict:
    # A pool that died without saying so stops refreshing its rows: count only fresh ones.
    fresh = timezone.now() - dt.timedelta(seconds=30)
    running = WorkerStatus.objects.filter(state="running", updated_at__gte=fresh)
    figures = running.aggregate(lag=Sum("lag"), workers=Count("id"))
    return {"lag": figures["lag"] or 0, "workers": figures["workers"]}
