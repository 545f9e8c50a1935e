"""The dashboard's status line (ingestion lag and running workers): one frame every
STATUS_INTERVAL for all clients of a daphne process, from one query, not one a client."""

from __future__ import annotations

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from trademonitor import dashboard
from trademonitor.models import WorkerStatus

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

ORIGIN = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]


async def _statuses(communicator: WebsocketCommunicator, count: int) -> list[dict]:
    statuses = []
    while len(statuses) < count:
        message = json.loads(await communicator.receive_from(timeout=10))
        if message["type"] == "status":
            statuses.append(message)
    return statuses


async def test_every_client_gets_the_same_status_from_one_query(monkeypatch):
    from asgiref.sync import sync_to_async

    from trademonitor.asgi import application

    stale = timezone.now() - timezone.timedelta(minutes=5)

    @sync_to_async
    def record_workers() -> None:
        WorkerStatus.objects.all().delete()
        WorkerStatus.objects.create(job="ingest", slot=0, state="running", lag=7)
        WorkerStatus.objects.create(job="ingest", slot=1, state="running", lag=5)
        WorkerStatus.objects.create(job="ingest", slot=2, state="stopped", lag=100)
        # A pool that died without saying so: its row stopped being refreshed.
        WorkerStatus.objects.create(job="ingest", slot=3, state="running", lag=1000)
        WorkerStatus.objects.filter(slot=3).update(updated_at=stale)

    await record_workers()
    queries = []
    real = dashboard.ingestion_status
    monkeypatch.setattr(dashboard, "ingestion_status", lambda: queries.append(1) or real())
    clients = [WebsocketCommunicator(application, "/ws/live", headers=ORIGIN) for _ in range(3)]
    try:
        for client in clients:
            assert (await client.connect(timeout=30))[0]
        received = [await _statuses(client, 2) for client in clients]
    finally:
        for client in clients:
            await client.disconnect()
    assert all(status == {"type": "status", "lag": 12, "workers": 2} for statuses in received for status in statuses)
    # Six frames; one query a client would have been at least six queries.
    assert len(queries) <= 3, queries
