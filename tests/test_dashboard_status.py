"""The dashboard's status line (ingestion lag, running workers, trades a second): one frame
every STATUS_INTERVAL for all clients of a daphne process, from one query, not one a client."""

from __future__ import annotations

import json

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.utils import timezone

import contract
from tests.livefeed import ORIGIN, next_frame, trades_delta
from trademonitor import dashboard
from trademonitor.models import WorkerStatus

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


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
    assert all((status["type"], status["lag"], status["workers"]) == ("status", 12, 2)
               for statuses in received for status in statuses)
    # Six frames; one query a client would have been at least six queries.
    assert len(queries) <= 3, queries


async def test_trades_a_second_are_the_web_processs_count_so_a_page_just_opened_has_the_figure():
    """A page used to count the frames it got from when it opened: a worker catching up after
    a stall counted as trades of its first seconds. The hub counts every delta it hears,
    opened pages or not."""
    from trademonitor.asgi import application

    layer = get_channel_layer()
    first = WebsocketCommunicator(application, "/ws/live", headers=ORIGIN)
    second = WebsocketCommunicator(application, "/ws/live", headers=ORIGIN)
    try:
        assert (await first.connect(timeout=30))[0]
        watermarks = (await next_frame(first, contract.SNAPSHOT))["watermarks"]
        offset = max(map(int, watermarks.values()), default=0) + 1_000_000  # past anything stored
        await layer.group_send(contract.TRADES_GROUP, trades_delta(0, offset, {"ZZRATE": 1000}, trades=1000))
        rate = None
        while not rate:
            rate = (await next_frame(first, contract.STATUS))["trades_per_second"]
        assert 1000 / 5 <= rate <= 1000  # 1,000 trades, heard over 1 to 5 s

        assert (await second.connect(timeout=30))[0]
        await next_frame(second, contract.SNAPSHOT)
        assert (await next_frame(second, contract.STATUS))["trades_per_second"] >= 1000 / 5
    finally:
        await first.disconnect()
        await second.disconnect()
