"""Helpers of the deployment and security tests: the rendered Kubernetes manifests,
the production environment they give, and manage.py run in it."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import yaml

from devservices.services import kustomize, podsecurity
from tests.conftest import PROJECT_DIR

K8S = PROJECT_DIR / "k8s"

PRODUCTION_SECRETS = {  # what the web pod takes from its Secrets (k8s/base/web.yaml), made up
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "POSTGRES_PASSWORD": "not-a-real-password",
    "CLICKHOUSE_READONLY_PASSWORD": "not-a-real-password",
    "CLICKHOUSE_PANEL_PASSWORD": "not-a-real-password",
    "REDIS_PASSWORD": "not-a-real-password",
}


def render(overlay: Path) -> list[dict]:
    """`kustomize build overlay`, by the pinned kustomize (devservices/kustomize)."""
    result = subprocess.run([str(kustomize()), "build", str(overlay)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def pod_security_violations(overlay: Path) -> tuple[int, str, str]:
    """(exit status, violations, summary) of Kubernetes' own Pod Security "restricted" checks
    on every pod template of the rendered overlay (devservices/podsecurity)."""
    manifests = subprocess.run([str(kustomize()), "build", str(overlay)], capture_output=True, check=True).stdout
    result = subprocess.run([str(podsecurity())], input=manifests, capture_output=True, timeout=60)
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def generated(documents: list[dict], kind: str, name: str) -> dict:
    """The one `kind` kustomize generated from `name` (a ConfigMap's name carries a hash)."""
    [document] = [d for d in documents if d["kind"] == kind and re.fullmatch(rf"{name}(-[a-z0-9]{{10}})?",
                                                                            d["metadata"]["name"])]
    return document


def containers(document: dict) -> list[dict]:
    spec = document.get("spec", {})
    template = spec.get("jobTemplate", {}).get("spec", spec).get("template", {})
    return template.get("spec", {}).get("containers", [])


def kubernetes_environment() -> dict[str, str]:
    """The web pod's environment: the rendered ConfigMap plus (made-up) secrets."""
    config = generated(render(K8S / "overlays" / "hpa"), "ConfigMap", "trademonitor-config")
    return {**config["data"], **PRODUCTION_SECRETS}


def manage(*args: str, environment: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {name: value for name, value in os.environ.items()
             if not name.startswith(("DJANGO_", "CLICKHOUSE_", "REDIS_", "POSTGRES_"))}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT_DIR, env={**clean, **environment},
                          capture_output=True, text=True, timeout=120)
