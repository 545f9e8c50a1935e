"""The dashboard's SQL panel: a user's query, run as ClickHouse's read-only user
with limits on rows, bytes and time. ClickHouse's own error message is shown."""

from __future__ import annotations

import time
from dataclasses import dataclass

from clickhouse_connect.driver.exceptions import ClickHouseError

from trademonitor import dashboard

MAX_ROWS = 1000
MAX_QUERY_CHARS = 10_000
LIMITS = {
    "max_result_rows": MAX_ROWS,
    "result_overflow_mode": "break",   # show the first rows rather than nothing
    "max_result_bytes": 10_000_000,
    "max_execution_time": 5,
    "timeout_overflow_mode": "throw",
    "max_memory_usage": 1_000_000_000,
}
EXAMPLE = """SELECT symbol, count() AS trades, sum(price * quantity) AS volume
FROM trades
WHERE ts > now() - INTERVAL 5 MINUTE
GROUP BY symbol
ORDER BY volume DESC
LIMIT 10"""


class QueryRefused(Exception):
    """The query failed; the message is ClickHouse's (or ours, for an empty or huge query)."""


@dataclass
class Result:
    columns: list[str]
    rows: list[list]
    truncated: bool
    elapsed_ms: float


def run(sql: str) -> Result:
    sql = sql.strip().rstrip(";")
    if not sql:
        raise QueryRefused("Empty query")
    if len(sql) > MAX_QUERY_CHARS:
        raise QueryRefused(f"Query longer than {MAX_QUERY_CHARS} characters")
    started = time.perf_counter()
    try:
        result = dashboard.client().query(sql, settings=LIMITS)
    except ClickHouseError as exc:
        raise QueryRefused(_clickhouse_message(str(exc))) from None
    rows = [[_cell(value) for value in row] for row in result.result_rows[:MAX_ROWS]]
    return Result(list(result.column_names), rows, len(result.result_rows) >= MAX_ROWS,
                  (time.perf_counter() - started) * 1000)


def _clickhouse_message(text: str) -> str:
    # clickhouse-connect wraps the server's text; show from ClickHouse's "Code: N." on.
    start = text.find("Code: ")
    message = text[start:] if start >= 0 else text
    return message.split(" (for url")[0].strip()


def _cell(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
