"""HTML views of the web app."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_safe

import contract
from clickhouse.connection import reader
from trademonitor import export, sqlpanel
from trademonitor.access import dashboard_view, sql_panel_allowed


@require_safe
@ensure_csrf_cookie
@dashboard_view(api=False)
def index(request: HttpRequest) -> HttpResponse:
    page_config = {"authenticated": request.user.is_authenticated, "export_cap": export.EXPORT_MAX_ROWS}
    return render(request, "index.html", {"example_sql": sqlpanel.EXAMPLE, "sql_panel": sql_panel_allowed(request),
                                          "wire_layout": contract.layout(), "page_config": page_config})


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Process liveness: answers as long as daphne serves requests."""
    return JsonResponse({"status": "ok"})


@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: ClickHouse (read-only user) and Redis answer; 503 naming what does not."""
    checks = {"clickhouse": _clickhouse_answers, "redis": _redis_answers}
    failing = [name for name, check in checks.items() if not check()]
    return JsonResponse({"status": "unavailable" if failing else "ok", "failing": failing},
                        status=503 if failing else 200)


@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics of this web process (WebSocket clients)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)


def _clickhouse_answers() -> bool:
    try:
        return reader(connect_timeout=2, send_receive_timeout=3).command("SELECT 1") == 1
    except Exception:  # noqa: BLE001 - any failure means not ready
        return False


def _redis_answers() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2).ping())
    except (redis.RedisError, OSError):
        return False
