"""The JSON API used by the dashboard and by scripts."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from functools import wraps
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_ratelimit.decorators import ratelimit
from prometheus_client import Counter

import contract
from clickhouse import queries
from trademonitor import dashboard, export, live, pages, sqlpanel
from trademonitor.access import ViewFunction, dashboard_view, sql_panel_allowed
from trademonitor.hub import HUB
from trademonitor.models import SqlPanelQuery, Symbol, WatchlistEntry

logger = logging.getLogger(__name__)

MAX_CANDLE_MINUTES = 24 * 60
MAX_WATCHLIST = 500
FIRST_PAGES = Counter("trademonitor_drilldown_first_pages_total", "Drill-down first pages served, from the "
                      "page kept in memory (a dashboard is connected) or read from ClickHouse", ["source"])


def error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def clickhouse_unavailable_is_503(view: ViewFunction) -> ViewFunction:
    """ClickHouse down, overloaded or unmigrated: a 503 that says so, and its own error
    text only in the log (the SQL panel is the one place that shows ClickHouse's words)."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
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
    """Listed. A symbol whose first page is kept needs no lookup: pages are kept for the
    snapshot's symbols and the trades the workers stored, which are of listed symbols only
    (workers/validation.py). The lookup is a query of Django's database, and with SQLite a
    connection opened and closed, for every request (design.md)."""
    return symbol in HUB.newest.pages or Symbol.objects.filter(symbol=symbol).exists()


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
    first_page = not request.GET.get("before") and 1 <= limit <= contract.FIRST_PAGE
    kept = pages.kept_first_page(symbol, limit) if first_page else None  # while a dashboard is connected
    if kept is not None:
        FIRST_PAGES.labels("memory").inc()
        trades, next_cursor = kept
    else:
        try:
            before = pages.decode_cursor(request.GET["before"]) if request.GET.get("before") else None
            page = queries.trades_page(dashboard.client(), symbol, before=before, limit=limit)
        except ValueError as exc:  # a limit out of range or a cursor not issued here
            return error(400, str(exc))
        if before is None:
            FIRST_PAGES.labels("clickhouse").inc()
        trades = [dashboard.trade_json(trade) for trade in page.trades]
        next_cursor = pages.encode_cursor(page.next_key) if page.next_key else None
    return JsonResponse({
        "symbol": symbol,
        "trades": trades,  # contract.Trade, most recent first
        "next": next_cursor,
    })


@require_GET
@dashboard_view(api=True)
@clickhouse_unavailable_is_503
def candles(request: HttpRequest, symbol: str) -> JsonResponse:
    if not _known(symbol):
        return error(404, f"unknown symbol {symbol!r}")
    try:
        minutes, interval = _whole_number(request, "minutes", 60), _whole_number(request, "interval", 1)
        start, end = _range(minutes, interval)
        rows = queries.candles(dashboard.client(), symbol, start, end, interval)
    except ValueError as exc:
        return error(400, str(exc))
    return JsonResponse({
        "symbol": symbol,
        "interval": interval,
        "start": live.epoch_ms(start),  # the range the chart's time axis spans, [start, end)
        "end": live.epoch_ms(end),
        "candles": [[live.epoch_ms(c.start), *(live.cents(p) for p in (c.open, c.high, c.low, c.close)),
                     c.shares, live.cents(c.volume), c.trades] for c in rows],  # contract.Candle
    })


@require_GET
@dashboard_view(api=True)
@clickhouse_unavailable_is_503
def trades_csv(request: HttpRequest, symbol: str) -> HttpResponse | StreamingHttpResponse:
    """The symbol's trades of the last `minutes` as CSV, newest first, at most EXPORT_MAX_ROWS."""
    if not _known(symbol):
        return error(404, f"unknown symbol {symbol!r}")
    try:
        start, end = _range(_whole_number(request, "minutes", 60), 1)
    except ValueError as exc:
        return error(400, str(exc))
    end = min(end, dt.datetime.now(dt.UTC))  # the range's trades as they stand now
    response = StreamingHttpResponse(export.stream(symbol, start, end), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{export.filename(symbol, start, end)}"'
    response["X-Row-Cap"] = str(export.EXPORT_MAX_ROWS)
    return response


def _whole_number(request: HttpRequest, name: str, default: int) -> int:
    try:
        return int(request.GET.get(name, str(default)))
    except ValueError:
        raise ValueError(f"{name} must be a whole number") from None


def _range(minutes: int, interval: int) -> tuple[dt.datetime, dt.datetime]:
    """The last `minutes` up to the end of the current interval: [start, end) in UTC."""
    if not 1 <= minutes <= MAX_CANDLE_MINUTES:
        raise ValueError(f"minutes must be between 1 and {MAX_CANDLE_MINUTES}")
    queries.check_interval(interval)
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    end = now - dt.timedelta(minutes=now.minute % interval) + dt.timedelta(minutes=interval)
    return end - dt.timedelta(minutes=minutes), end


# -- the watchlist of a logged-in user (anonymous visitors keep theirs in the browser) ------
@require_GET
@dashboard_view(api=True)
def watchlist(request: HttpRequest) -> JsonResponse:
    user_id = _account(request)
    if user_id is None:
        return error(401, "log in to keep a watchlist on the server")
    return JsonResponse({"symbols": _watched(user_id)})


@require_http_methods(["PUT", "DELETE"])
@dashboard_view(api=True)
def watchlist_symbol(request: HttpRequest, symbol: str) -> JsonResponse:
    """PUT stars `symbol` for the user, DELETE unstars it; both answer the whole list."""
    user_id = _account(request)
    if user_id is None:
        return error(401, "log in to keep a watchlist on the server")
    known = Symbol.objects.filter(symbol=symbol).first()
    if known is None:
        return error(404, f"unknown symbol {symbol!r}")
    entries = WatchlistEntry.objects.filter(user_id=user_id)
    if request.method == "DELETE":
        entries.filter(symbol=known).delete()
    elif not entries.filter(symbol=known).exists():
        if entries.count() >= MAX_WATCHLIST:
            return error(400, f"a watchlist holds at most {MAX_WATCHLIST} symbols")
        WatchlistEntry.objects.get_or_create(user_id=user_id, symbol=known)
    return JsonResponse({"symbols": _watched(user_id)})


def _account(request: HttpRequest) -> int | None:
    return request.user.pk if request.user.is_authenticated else None


def _watched(user_id: int) -> list[str]:
    return list(WatchlistEntry.objects.filter(user_id=user_id).values_list("symbol__symbol", flat=True))


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
