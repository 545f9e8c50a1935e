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

from devservices.services import kustomize
from tests.conftest import PROJECT_DIR

K8S = PROJECT_DIR / "k8s"

PRODUCTION_SECRETS = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DATABASE_URL": "postgres://tm:not-a-real-password@postgres:5432/trademonitor",
    "CLICKHOUSE_URL": "http://writer:not-a-real-password@clickhouse:8123/trademonitor",
    "CLICKHOUSE_READONLY_URL": "http://reader:not-a-real-password@clickhouse:8123/trademonitor",
    "CLICKHOUSE_PANEL_URL": "http://panel:not-a-real-password@clickhouse:8123/trademonitor",
}


def render(overlay: Path) -> list[dict]:
    """`kustomize build overlay`, by the pinned kustomize (devservices/kustomize)."""
    result = subprocess.run([str(kustomize()), "build", str(overlay)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


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
    clean = {name: value for name, value in os.environ.items() if not name.startswith(("DJANGO_", "CLICKHOUSE_"))}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT_DIR, env={**clean, **environment},
                          capture_output=True, text=True, timeout=120)
