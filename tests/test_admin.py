"""Django admin as operators read it: the workers' state, and a pool gone silent."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from trademonitor.models import SqlPanelQuery, VolumeAlert, WorkerStatus

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


def test_the_audit_trail_and_the_alerts_read_as_the_dashboard_does(client):
    """Times to the second in UTC (queries of one minute apart), money in dollars, durations rounded."""
    SqlPanelQuery.objects.create(address="203.0.113.5", sql="SELECT 1", outcome="ok", rows=1, duration_ms=12.3456)
    SqlPanelQuery.objects.filter(sql="SELECT 1").update(at=dt.datetime(2026, 3, 11, 13, 5, 7, tzinfo=dt.UTC))
    VolumeAlert.objects.create(window_start=dt.datetime(2026, 3, 11, 13, 0, tzinfo=dt.UTC), symbol="ENTG",
                               window_end=dt.datetime(2026, 3, 11, 13, 5, tzinfo=dt.UTC),
                               volume=Decimal("211208249.13"), trades=28)
    client.force_login(User.objects.create_superuser("ops", password="a-long-test-password"))

    assert "SQL panel queries" in client.get("/admin/").content.decode()
    queries = client.get("/admin/trademonitor/sqlpanelquery/").content.decode()
    assert _cells(queries, "field-duration") == ["12 ms"]
    assert "2026-03-11 13:05:07 UTC" in queries
    alerts = client.get("/admin/trademonitor/volumealert/").content.decode()
    assert _cells(alerts, "field-dollars") == ["$211,208,249.13"]
    assert _cells(alerts, "field-window_end") == ["2026-03-11 13:05:00 UTC"]


def _cells(html: str, css_class: str) -> list[str]:
    """The text of every table cell of `css_class` in admin's change list."""
    return re.findall(rf'<td class="{css_class}(?: [^"]*)?">(.*?)</td>', html)
