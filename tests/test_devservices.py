"""The development-services launcher."""

from __future__ import annotations

import base64
import subprocess
import sys
import uuid

import pytest

from devservices import services as devservices_module
from devservices.services import ClickHouse, Kafka, PrerequisiteMissing, Redis
from tests.conftest import PROJECT_DIR


def test_status_is_green_when_all_three_run(services):
    result = subprocess.run([sys.executable, "manage.py", "devservices", "status"],
                            cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["kafka", "clickhouse", "redis"]
    assert all("healthy" in line for line in result.stdout.splitlines())


def test_status_fails_when_a_service_is_down(tmp_path):
    env_port = "127.0.0.1:1"  # nothing listens on port 1
    result = subprocess.run(
        [sys.executable, "manage.py", "devservices", "status"], cwd=PROJECT_DIR, capture_output=True, text=True,
        timeout=60, env={"PATH": "/usr/bin:/bin", "REDIS_URL": f"redis://{env_port}/0",
                         "DEVSERVICES_DIR": str(tmp_path)},
    )
    assert result.returncode != 0
    assert "redis" in result.stderr and "not healthy" in result.stderr


def test_missing_program_names_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PrerequisiteMissing, match="redis-server not found: install Redis"):
        Redis(tmp_path, "redis://127.0.0.1:1/0").command()
    with pytest.raises(PrerequisiteMissing, match="java not found"):
        Kafka(tmp_path, "127.0.0.1:1", []).prepare()


def test_services_elsewhere_are_external_and_never_started(tmp_path):
    assert not Redis(tmp_path, "redis://cache.internal:6379/0").managed
    assert not ClickHouse(tmp_path, "https://u:p@ch.example:8443/db", "https://r:p@ch.example:8443/db",
                          "https://p:p@ch.example:8443/db").managed
    assert Kafka(tmp_path, "127.0.0.1:9092", []).managed


def test_clickhouse_endpoint_users_come_from_the_project_urls(tmp_path):
    service = ClickHouse(tmp_path, "http://writer:w-pass@127.0.0.1:8123/db", "http://ro:r-pass@127.0.0.1:8123/db",
                         "http://panel:p%40ss@127.0.0.1:8123/db")
    # The read users are users.xml's; their passwords, the variables it names.
    assert service.environment() == {"CHENDPOINT_USERS": "writer:w-pass", "CHENDPOINT_READONLY_USERS": "",
                                     "CLICKHOUSE_READONLY_PASSWORD": "r-pass", "CLICKHOUSE_PANEL_PASSWORD": "p@ss"}


def test_kafka_cluster_id_never_starts_with_a_dash(monkeypatch):
    # A first byte of 0xf8 encodes as "-": Kafka's storage tool took such an id for an option
    # and refused to format (a fresh clone's CI failed so, one start in 64).
    dashed, plain = uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x10" + bytes(15))
    draws = iter([dashed, plain])
    monkeypatch.setattr(devservices_module.uuid, "uuid4", lambda: next(draws))

    cluster_id = devservices_module._kafka_cluster_id()

    assert base64.urlsafe_b64encode(dashed.bytes).decode().startswith("-")
    assert cluster_id == base64.urlsafe_b64encode(plain.bytes).decode().rstrip("=")
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
