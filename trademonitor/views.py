"""HTML views of the web app."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from trademonitor import sqlpanel


@ensure_csrf_cookie
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "index.html", {"example_sql": sqlpanel.EXAMPLE})


def healthz(request: HttpRequest) -> JsonResponse:
    """Process liveness: answers as long as daphne serves requests."""
    return JsonResponse({"status": "ok"})
