"""Django admin as operators read it: the workers' state, and a pool gone silent."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from trademonitor.models import WorkerStatus

pytestmark = pytest.mark.django_db


def test_worker_status_tells_a_silent_pool_from_a_running_one(client):
    now = timezone.now()
    WorkerStatus.objects.create(job="ingest", slot=0, state="running", last_heartbeat=now - dt.timedelta(seconds=2))
    WorkerStatus.objects.create(job="ingest", slot=1, state="running", last_heartbeat=now - dt.timedelta(minutes=5))
    # A pool killed with SIGKILL leaves its rows as they were: "running", and no longer written.
    WorkerStatus.objects.filter(slot=1).update(updated_at=now - dt.timedelta(minutes=5))
    client.force_login(User.objects.create_superuser("ops", password="a-long-test-password"))

    page = client.get("/admin/trademonitor/workerstatus/")

    assert page.status_code == 200
    states = [cell.strip() for cell in _cells(page.content.decode(), "field-shown_state")]
    heartbeats = [cell.strip() for cell in _cells(page.content.decode(), "field-heartbeat")]
    assert states == ["running", "silent for 5 min (last said running)"]
    assert heartbeats[0].endswith(" s ago") and float(heartbeats[0].split()[0]) >= 2
    assert heartbeats[1] == "5 min ago"
    assert "2 worker statuses" in page.content.decode()


def test_the_audit_trail_is_listed_as_queries(client):
    client.force_login(User.objects.create_superuser("ops", password="a-long-test-password"))
    assert "SQL panel queries" in client.get("/admin/").content.decode()


def _cells(html: str, css_class: str) -> list[str]:
    """The text of every table cell of `css_class` in admin's change list."""
    return re.findall(rf'<td class="{css_class}">(.*?)</td>', html)
