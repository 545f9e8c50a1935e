"""Trades written straight into a scratch ClickHouse database with every migration applied,
for the tests of the schema and the query layer."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import clickhouse_connect
import pytest
from django.conf import settings

from clickhouse.connection import client_settings
from clickhouse.migrate import Migrator
from clickhouse.writer import insert_trades

EPOCH = dt.datetime(2026, 3, 11, 13, 0, tzinfo=dt.UTC)


@pytest.fixture
def schema(scratch_database):
    """(writer, read-only reader) on a scratch database with every migration applied."""
    Migrator(settings.CLICKHOUSE_URL, scratch_database).apply()
    writer = clickhouse_connect.get_client(**client_settings(settings.CLICKHOUSE_URL, database=scratch_database))
    reader = clickhouse_connect.get_client(
        **client_settings(settings.CLICKHOUSE_READONLY_URL, database=scratch_database))
    return writer, reader


def make_trade(symbol: str, ms: int, cents: int, quantity: int, partition: int, offset: int) -> tuple:
    return (uuid.uuid4(), EPOCH + dt.timedelta(milliseconds=ms), symbol, Decimal(cents) / 100, quantity,
            partition, offset)


def insert(writer, trades: list[tuple], token: str | None = None) -> None:
    wire = [(str(i), int(ts.timestamp() * 1000), s, int(price * 100), q, p, o) for i, ts, s, price, q, p, o in trades]
    insert_trades(writer, [list(column) for column in zip(*wire, strict=False)], token or str(uuid.uuid4()))
