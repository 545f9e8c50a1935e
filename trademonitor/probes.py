"""Probes and scrapers reach a pod by its address, not the site's name.

Kubernetes' kubelet sends `Host: <pod IP>:8000` and Prometheus `Host: web:8000`, which
ALLOWED_HOSTS rightly refuses for everything else. This middleware, first in the
chain, answers exactly /healthz, /readyz and /metrics (GET or HEAD) before any host
check; every other path goes through the rest of the middleware as usual. The Ingress
does not route them (k8s/base/web.yaml), so only the cluster reaches them.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from trademonitor import views

PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": views.healthz,
    "/readyz": views.readyz,
    "/metrics": views.metrics,
}


class ProbeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = PROBES.get(request.path_info)
        if view is not None and request.method in ("GET", "HEAD"):
            return view(request)
        return self.get_response(request)
