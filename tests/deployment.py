"""Helpers of the deployment and security tests: the rendered Kubernetes manifests,
the production environment they give, and manage.py run in it."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import yaml

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
    """What `kustomize build` gives for the features the manifests use: resources,
    namespace, common labels, configMapGenerator (without name hashes), images."""
    kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    documents: list[dict] = []
    for resource in kustomization.get("resources", []):
        path = (overlay / resource).resolve()
        if path.is_dir():
            documents.extend(render(path))
        else:
            documents.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    for generator in kustomization.get("configMapGenerator", []):
        data = dict(literal.split("=", 1) for literal in generator.get("literals", []))
        for entry in generator.get("files", []):
            key, _, name = entry.partition("=")
            data[key] = (overlay / name).read_text()
        documents.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]},
                          "data": data})
    for document in documents:
        if "namespace" in kustomization:
            document["metadata"].setdefault("namespace", kustomization["namespace"])
        for label in kustomization.get("labels", []):
            document["metadata"].setdefault("labels", {}).update(label["pairs"])
        for image in kustomization.get("images", []):
            for container in containers(document):
                if container["image"] == image["name"]:
                    container["image"] = f"{image['newName']}:{image['newTag']}"
    return documents


def containers(document: dict) -> list[dict]:
    spec = document.get("spec", {})
    template = spec.get("jobTemplate", {}).get("spec", spec).get("template", {})
    return template.get("spec", {}).get("containers", [])


def kubernetes_environment() -> dict[str, str]:
    """The web pod's environment: the rendered ConfigMap plus (made-up) secrets."""
    documents = render(K8S / "overlays" / "hpa")
    [config] = [d for d in documents if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "trademonitor-config"]
    return {**config["data"], **PRODUCTION_SECRETS}


def manage(*args: str, environment: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {name: value for name, value in os.environ.items() if not name.startswith(("DJANGO_", "CLICKHOUSE_"))}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT_DIR, env={**clean, **environment},
                          capture_output=True, text=True, timeout=120)
