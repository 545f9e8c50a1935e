"""Who may use the dashboard and its API, and how often.

One decorator for every dashboard and API view, so the rules cannot drift apart:
a login when DASHBOARD_LOGIN_REQUIRED is on (JSON 401 for the API, the admin's
login page for HTML), and a request rate per client address (API_RATE_LIMIT).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django_ratelimit.decorators import ratelimit


def login_needed(request: HttpRequest) -> bool:
    return settings.DASHBOARD_LOGIN_REQUIRED and not request.user.is_authenticated


ViewFunction = Callable[..., HttpResponseBase]  # a Django view: a page, JSON or a stream


def dashboard_view(*, api: bool) -> Callable[[ViewFunction], ViewFunction]:
    """Wrap a view in the dashboard's access rules (`api`: answer in JSON)."""

    def decorate(view: ViewFunction) -> ViewFunction:
        limited = ratelimit(key="ip", rate=lambda group, request: settings.API_RATE_LIMIT, block=True)(view)

        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if login_needed(request):
                if api:
                    return JsonResponse({"error": "login required"}, status=401)
                return redirect_to_login(request.get_full_path())
            response: HttpResponseBase = limited(request, *args, **kwargs)
            return response

        return guarded

    return decorate


def sql_panel_allowed(request: HttpRequest) -> bool:
    """SQL_PANEL: off, staff (logged-in staff users) or public."""
    if settings.SQL_PANEL == "public":
        return True
    return settings.SQL_PANEL == "staff" and request.user.is_authenticated and request.user.is_staff


def rate_limited(request: HttpRequest, exception: Exception) -> JsonResponse:
    """RATELIMIT_VIEW: what a client over its rate gets."""
    return JsonResponse({"error": "too many requests; slow down"}, status=429, headers={"Retry-After": "60"})
