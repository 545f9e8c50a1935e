"""The max-volume alerts' reads and writes: which windows are closed, who won them,
and the alerts already stored (migration 0005).

Everything an alert needs is already aggregated by ClickHouse: `candles_1m` holds
each symbol's volume and trade count per minute, written exactly once by ingest,
and `symbol_totals` holds the latest event time ingested from every Kafka
partition. So an alert is one query over at most five candles per symbol, and the
job keeps no window state of its own that a restart could lose or double.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from clickhouse_connect.driver.client import Client

from clickhouse.writer import INSERT_SETTINGS

UTC = dt.UTC


@dataclass(frozen=True)
class VolumeAlert:
    window_start: dt.datetime
    window_end: dt.datetime
    symbol: str
    volume: Decimal
    trades: int

    def as_json(self) -> dict[str, str | int]:
        """Times as ISO 8601 UTC, the volume as a decimal string (money is never a float)."""
        return {
            "window_start": _iso(self.window_start),
            "window_end": _iso(self.window_end),
            "symbol": self.symbol,
            "volume": f"{self.volume:.2f}",
            "trades": self.trades,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VolumeAlert:
        return cls(_parse_iso(data["window_start"]), _parse_iso(data["window_end"]), data["symbol"],
                   Decimal(data["volume"]), int(data["trades"]))


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


# last_key packs the trade's epoch milliseconds in its top bits (migration 0002). A
# partition with no trade stored yet has no row: it counts as not begun.
EVENT_TIME_WATERMARK_SQL = """
    SELECT if(count() < {partitions:UInt16}, 0, min(latest))
    FROM
    (
        SELECT toUInt64(bitShiftRight(max(last_key), 80)) AS latest
        FROM symbol_totals
        WHERE kafka_partition < {partitions:UInt16}
        GROUP BY kafka_partition
    )
"""


def event_time_watermark(client: Client, partitions: int) -> dt.datetime | None:
    """The event time every one of the topic's `partitions` has reached in ingestion: the
    smallest of their latest stored trade times; None until each has a trade stored.

    Taking the smallest means a partition that is behind holds windows open rather
    than letting them close without its trades; so does one whose first trades are
    not stored yet (the workers insert a topic's partitions one after the other).
    """
    latest_ms: Any = client.command(EVENT_TIME_WATERMARK_SQL, parameters={"partitions": partitions})
    if not latest_ms:
        return None
    return dt.datetime.fromtimestamp(int(latest_ms) / 1000, UTC)


def first_minute(client: Client) -> dt.datetime | None:
    """The earliest minute with a trade (where alerting starts on an empty ledger)."""
    # toUnixTimestamp: min() of an empty table is the epoch, not NULL.
    first: Any = client.command("SELECT if(count() = 0, 0, toUnixTimestamp(min(minute))) FROM candles_1m")
    return dt.datetime.fromtimestamp(int(first), UTC) if int(first) else None


WINDOW_LEADERS_SQL = """
    SELECT window_start, symbol, volume, trades
    FROM
    (
        SELECT toStartOfInterval(minute, toIntervalMinute({minutes:UInt16})) AS window_start,
               symbol, sum(volume) AS volume, sum(trades) AS trades
        FROM candles_1m
        WHERE minute >= {start:DateTime('UTC')} AND minute < {end:DateTime('UTC')}
        GROUP BY window_start, symbol
    )
    ORDER BY window_start, volume DESC, symbol
    LIMIT 1 BY window_start
"""


def window_leaders(client: Client, start: dt.datetime, end: dt.datetime, minutes: int) -> list[VolumeAlert]:
    """The highest-volume symbol of every `minutes`-long window in [start, end) that
    has trades, oldest first; a tie goes to the alphabetically first symbol."""
    rows = client.query(WINDOW_LEADERS_SQL, parameters={"start": start, "end": end, "minutes": minutes}).result_rows
    width = dt.timedelta(minutes=minutes)
    return [VolumeAlert(window_start, window_start + width, symbol, volume, trades)
            for window_start, symbol, volume, trades in rows]


STORED_ALERTS_SQL = """
    SELECT window_start, window_end, symbol, volume, trades
    FROM volume_alerts FINAL
    WHERE window_start >= {start:DateTime('UTC')} AND window_start < {end:DateTime('UTC')}
    ORDER BY window_start
"""


def stored_alerts(client: Client, start: dt.datetime, end: dt.datetime) -> list[VolumeAlert]:
    """Alerts already stored for windows starting in [start, end), oldest first."""
    rows = client.query(STORED_ALERTS_SQL, parameters={"start": start, "end": end}).result_rows
    return [VolumeAlert(*row) for row in rows]


RECENT_ALERTS_SQL = """
    SELECT window_start, window_end, symbol, volume, trades
    FROM volume_alerts FINAL
    ORDER BY window_start DESC
    LIMIT {limit:UInt16}
"""


def recent_alerts(client: Client, limit: int = 10) -> list[VolumeAlert]:
    """The latest `limit` alerts, newest first (the dashboard's feed)."""
    return [VolumeAlert(*row) for row in client.query(RECENT_ALERTS_SQL, parameters={"limit": limit}).result_rows]


STORE_ALERT_SQL = """
    INSERT INTO volume_alerts (window_start, window_end, symbol, volume, trades, emitted_at)
    SELECT {window_start:DateTime('UTC')}, {window_end:DateTime('UTC')}, {symbol:String},
           {volume:Decimal(38, 2)}, {trades:UInt64}, now64(3)
"""


def store_alert(client: Client, alert: VolumeAlert) -> None:
    """Insert one alert; a repeat for the same window is dropped by its token.

    A parameterised INSERT ... SELECT rather than `client.insert`: the latter imports
    numpy, pandas and pyarrow on first use, which the soak benchmark saw as the alerts
    worker's resident memory jumping at its first alert (docs/benchmarks/design.md).
    """
    client.command(STORE_ALERT_SQL, parameters={
        "window_start": alert.window_start, "window_end": alert.window_end, "symbol": alert.symbol,
        "volume": alert.volume, "trades": alert.trades,
    }, settings={**INSERT_SETTINGS, "insert_deduplication_token": f"volume-alert-{_iso(alert.window_start)}"})
