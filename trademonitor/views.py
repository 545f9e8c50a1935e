"""HTTP views of the web app."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def index(request: HttpRequest) -> HttpResponse:
    return render(request, "index.html")


def healthz(request: HttpRequest) -> JsonResponse:
    """Process liveness: answers as long as daphne serves requests."""
    return JsonResponse({"status": "ok"})
