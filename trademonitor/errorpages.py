"""What a failed request gets: under /api/, JSON with one error line, as every API view
answers, since the page's scripts and other clients read JSON; elsewhere Django's own
pages. Wired in settings (CSRF_FAILURE_VIEW) and urls (handler400, 404 and 500); a 403 of
the API's own, or its rate limit's 429, is JSON already."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views import csrf, defaults

from trademonitor.api import error

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Django's reason is safe to show (no token in it), and it is what an operator needs
    behind a proxy: "Origin checking failed" means CSRF_TRUSTED_ORIGINS lacks the site."""
    if _is_api(request):
        return error(403, f"CSRF check failed: {reason.rstrip('.')}. Reload the page and try again")
    return csrf.csrf_failure(request, reason)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A request Django refused before any view: a Host not in ALLOWED_HOSTS, say."""
    if _is_api(request):
        return error(400, "bad request")
    return defaults.bad_request(request, exception)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return error(404, f"not found: {request.path}")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """The error itself is in the log (django.request), never in the answer."""
    if _is_api(request):
        return error(500, "internal error; it has been logged")
    return defaults.server_error(request)
