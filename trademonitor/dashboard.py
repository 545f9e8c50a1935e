"""What the dashboard reads: the snapshot with names, a symbol's newest trades,
and the ingestion status. Blocking calls, run from the web views and the
WebSocket consumer."""

from __future__ import annotations

import threading
import time
from typing import Any

from clickhouse_connect.driver.client import Client
from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone

import contract
from clickhouse import alerts, queries
from clickhouse.connection import reader
from trademonitor.live import cents, epoch_ms
from trademonitor.live import snapshot_message as build_snapshot_message
from trademonitor.models import Symbol, WorkerStatus

_local = threading.local()
_snapshot_lock = threading.Lock()
RECENT_ALERTS = 10  # the dashboard's alert feed
_snapshot_cache: tuple[float, str] | None = None


def client() -> Client:
    """One read-only ClickHouse client per thread (a client is not thread-safe)."""
    threads_client: Client | None = getattr(_local, "client", None)
    if threads_client is None:
        threads_client = _local.client = reader()
    return threads_client


def symbol_names() -> dict[str, str]:
    return dict(Symbol.objects.values_list("symbol", "name"))


def snapshot_message() -> contract.SnapshotFrame:
    """The snapshot as read from ClickHouse now: totals with their watermarks, whale counts
    with theirs, names and the recent alerts (one aggregation; the hub keeps a live copy)."""
    snapshot = queries.snapshot(client())
    whales, sentiment_watermarks = queries.sentiment_snapshot(client())
    recent_alerts = [alert.as_json() for alert in alerts.recent_alerts(client(), RECENT_ALERTS)]
    return build_snapshot_message(snapshot, symbol_names(), whales, sentiment_watermarks,
                                  settings.SENTIMENT_WHALE_QUANTITY, recent_alerts)


def snapshot_frame(not_before: float = 0.0) -> str:
    """The snapshot as JSON text for the API, read after `not_before` (time.monotonic()):
    a read that began later is shared, so many requests at once cost one query and one encoding."""
    global _snapshot_cache
    with _snapshot_lock:
        if _snapshot_cache is None or _snapshot_cache[0] < not_before:
            started = time.monotonic()
            _snapshot_cache = (started, contract.encode(snapshot_message()))
        return _snapshot_cache[1]


def trade_json(trade: queries.Trade) -> list[Any]:
    """One trade as contract.Trade: [id, epoch ms, price cents, quantity]."""
    return [str(trade.id), epoch_ms(trade.ts), cents(trade.price), trade.quantity]


def newest_trades(symbol: str, limit: int = 20) -> list[list[Any]]:
    return [trade_json(trade) for trade in queries.trades_page(client(), symbol, limit=limit).trades]


def newest_trades_by_symbol(symbols: list[str]) -> dict[str, bytes]:
    """Each symbol's first drill-down page as contract.TRADE_RECORDs (trademonitor.live.NewestTrades)."""
    return {symbol: b"".join(contract.trade_record(*trade) for trade in trades)
            for symbol, trades in queries.newest_trades(client(), symbols, contract.FIRST_PAGE).items()}


def ingestion_status() -> dict[str, int]:
    # A pool that died without saying so stops refreshing its rows: count only fresh ones.
    fresh = timezone.now() - WorkerStatus.FRESH_FOR
    running = WorkerStatus.objects.filter(state="running", updated_at__gte=fresh)
    figures = running.aggregate(lag=Sum("lag"), workers=Count("id"))
    return {"lag": figures["lag"] or 0, "workers": figures["workers"]}
