"""A drill-down's pages as clients get them, over the API (api.trades) or the dashboard's
socket (consumers.DashboardConsumer): a first page from the page this process keeps of
the symbol (hub.HUB.newest), and the signed cursor that asks the API for the page after."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.core import signing

import contract
from clickhouse import queries
from trademonitor.hub import HUB

CURSOR_SALT = "trademonitor.api.trades"


def encode_cursor(key: queries.TradeKey) -> str:
    """A page position for the client: signed, so it cannot forge one; opaque, so it can change."""
    epoch_ms, trade_id = key
    return signing.dumps([epoch_ms, str(trade_id)], salt=CURSOR_SALT, compress=False)


def decode_cursor(cursor: str) -> queries.TradeKey:
    """The position in a cursor this API issued; ValueError for any other."""
    try:
        epoch_ms, trade_id = signing.loads(cursor, salt=CURSOR_SALT)
        return int(epoch_ms), UUID(trade_id)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise ValueError("invalid cursor") from exc


def kept_first_page(symbol: str, limit: int = contract.FIRST_PAGE) -> tuple[list[list[Any]], str | None] | None:
    """`symbol`'s newest `limit` trades (contract.Trade, newest first) and the cursor of the
    page after them (None when there are no more), from the page kept in memory while a
    dashboard is connected; None when none is kept."""
    trades = HUB.newest.page(symbol, limit)
    if trades is None:
        return None
    last = trades[-1] if len(trades) == limit else None
    return trades, encode_cursor((last[contract.Trade.MS], UUID(last[contract.Trade.ID]))) if last else None
