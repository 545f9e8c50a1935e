"""The JSON API used by the dashboard and by scripts."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from functools import wraps
from uuid import UUID

from clickhouse_connect.driver.exceptions import ClickHouseError
from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_ratelimit.decorators import ratelimit

from clickhouse import queries
from trademonitor import dashboard, sqlpanel
from trademonitor.access import dashboard_view, sql_panel_allowed
from trademonitor.models import SqlPanelQuery, Symbol

logger = logging.getLogger(__name__)

MAX_CANDLE_MINUTES = 24 * 60
CURSOR_SALT = "trademonitor.api.trades"


def error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def clickhouse_unavailable_is_503(view):
    """ClickHouse down, overloaded or unmigrated: a 503 that says so, and its own error
    text only in the log (the SQL panel is the one place that shows ClickHouse's words)."""

    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ClickHouseError:
            logger.exception("ClickHouse failed serving %s", request.path)
            return error(503, "the trade store is unavailable; try again shortly")

    return guarded


@require_GET
@dashboard_view(api=True)
@clickhouse_unavailable_is_503
def symbols(request: HttpRequest) -> HttpResponse:
    return HttpResponse(dashboard.snapshot_frame(time.monotonic()), content_type="application/json")


def _known(symbol: str) -> bool:
    return Symbol.objects.filter(symbol=symbol).exists()


@require_GET
@dashboard_view(api=True)
@clickhouse_unavailable_is_503
def trades(request: HttpRequest, symbol: str) -> JsonResponse:
    if not _known(symbol):
        return error(404, f"unknown symbol {symbol!r}")
    try:
        limit = int(request.GET.get("limit", "50"))
    except ValueError:
        return error(400, "limit must be a whole number")
    try:
        before = decode_cursor(request.GET["before"]) if request.GET.get("before") else None
        page = queries.trades_page(dashboard.client(), symbol, before=before, limit=limit)
    except ValueError as exc:  # a limit out of range or a cursor not issued here
        return error(400, str(exc))
    return JsonResponse({
        "symbol": symbol,
        "trades": [dashboard.trade_json(trade) for trade in page.trades],  # contract.Trade, most recent first
        "next": encode_cursor(page.next_key) if page.next_key else None,
    })


def encode_cursor(key: queries.TradeKey) -> str:
    """A page position for the client: signed, so it cannot forge one; opaque, so it can change."""
    epoch_ms, trade_id = key
    return signing.dumps([epoch_ms, str(trade_id)], salt=CURSOR_SALT, compress=False)


def decode_cursor(cursor: str) -> queries.TradeKey:
    """The position in a cursor this API issued; ValueError for any other."""
    try:
        epoch_ms, trade_id = signing.loads(cursor, salt=CURSOR_SALT)
        return int(epoch_ms), UUID(trade_id)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise ValueError("invalid cursor") from exc


@require_GET
@dashboard_view(api=True)
@clickhouse_unavailable_is_503
def candles(request: HttpRequest, symbol: str) -> JsonResponse:
    if not _known(symbol):
        return error(404, f"unknown symbol {symbol!r}")
    try:
        minutes = int(request.GET.get("minutes", "60"))
    except ValueError:
        return error(400, "minutes must be a whole number")
    if not 1 <= minutes <= MAX_CANDLE_MINUTES:
        return error(400, f"minutes must be between 1 and {MAX_CANDLE_MINUTES}")
    end = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    rows = queries.candles(dashboard.client(), symbol, end - dt.timedelta(minutes=minutes), end)
    return JsonResponse({
        "symbol": symbol,
        # [minute ms, open, high, low, close (cents), shares, volume cents, trades]
        "candles": [[int(c.minute.timestamp() * 1000), *(int(p * 100) for p in (c.open, c.high, c.low, c.close)),
                     c.shares, int(c.volume * 100), c.trades] for c in rows],
    })


audit_log = logging.getLogger("trademonitor.sqlpanel.audit")


@require_POST
@dashboard_view(api=True)
@ratelimit(key="user_or_ip", group="sql-panel", rate=lambda group, request: settings.SQL_PANEL_RATE_LIMIT, block=True)
def sql(request: HttpRequest) -> JsonResponse:
    if not sql_panel_allowed(request):
        return error(403, "the SQL panel is not open to you")
    try:
        body = json.loads(request.body or b"{}")
        query = body["sql"]
        if not isinstance(query, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return error(400, 'expected a JSON body {"sql": "..."}')
    visitor = f"user:{request.user.pk}" if request.user.is_authenticated else f"ip:{request.META.get('REMOTE_ADDR')}"
    started = time.perf_counter()
    try:
        result = sqlpanel.run(query, visitor)
    except sqlpanel.QueryRefused as exc:
        _audit(request, query, SqlPanelQuery.Outcome.REFUSED, started, message=str(exc))
        return error(400, str(exc))
    _audit(request, query, SqlPanelQuery.Outcome.OK, started, rows=len(result.rows))
    return JsonResponse({"columns": result.columns, "rows": result.rows,
                         "elapsed_ms": round(result.elapsed_ms, 1)})


def _audit(request: HttpRequest, query: str, outcome: str, started: float, message: str = "",
           rows: int | None = None) -> None:
    """Every panel query, in the log and in SqlPanelQuery (kept SQL_PANEL_AUDIT_DAYS)."""
    duration_ms = (time.perf_counter() - started) * 1000
    user = request.user if request.user.is_authenticated else None
    address = request.META.get("REMOTE_ADDR")
    audit_log.info("sql panel %s by %s from %s in %.0f ms, %s rows: %s%s", outcome, user or "anonymous", address,
                   duration_ms, rows, query[:500].replace("\n", " "), f" -> {message[:200]}" if message else "")
    SqlPanelQuery.objects.create(user=user, address=address, sql=query[:sqlpanel.MAX_QUERY_CHARS], outcome=outcome,
                                 message=message[:1000], rows=rows, duration_ms=duration_ms)
    SqlPanelQuery.objects.filter(at__lt=timezone.now() - dt.timedelta(days=settings.SQL_PANEL_AUDIT_DAYS)).delete()
