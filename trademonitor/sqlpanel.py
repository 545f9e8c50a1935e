"""The dashboard's SQL panel: a user's query, run as ClickHouse's read-only user
with limits on rows, bytes and time. ClickHouse's own error message is shown.

A result over the limits is refused, not cut. ClickHouse checks its result limits
block by block, so one huge block passes them (measured: 1,000 rows of 100 KB came
back whole against a 10 MB max_result_bytes); the bytes limit is therefore also
applied here, to the response as it streams in."""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson
from clickhouse_connect.driver.exceptions import ClickHouseError

from trademonitor import dashboard

MAX_ROWS = 1000
MAX_BYTES = 10_000_000
MAX_QUERY_CHARS = 10_000
LIMITS = {
    "max_result_rows": MAX_ROWS,
    "result_overflow_mode": "throw",
    "max_result_bytes": MAX_BYTES,
    "wait_end_of_query": 1,  # an error after the first rows is an HTTP error, not text inside the rows
    "output_format_json_quote_decimals": 1,        # money as exact text, never a float
    "output_format_json_quote_64bit_integers": 1,
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
    elapsed_ms: float


def run(sql: str) -> Result:
    sql = sql.strip().rstrip(";")
    if not sql:
        raise QueryRefused("Empty query")
    if len(sql) > MAX_QUERY_CHARS:
        raise QueryRefused(f"Query longer than {MAX_QUERY_CHARS} characters")
    started = time.perf_counter()
    try:
        with dashboard.client().raw_stream(sql, settings=LIMITS, fmt="JSONCompactEachRowWithNames") as stream:
            body = _at_most(stream, MAX_BYTES)
    except ClickHouseError as exc:
        raise QueryRefused(_clickhouse_message(str(exc))) from None
    if body is None:
        raise QueryRefused(f"Result larger than {MAX_BYTES:,} bytes: select fewer or narrower rows")
    try:
        lines = body.splitlines()
        columns = orjson.loads(lines[0]) if lines else []
        rows = [[_cell(value) for value in orjson.loads(line)] for line in lines[1:]]
    except orjson.JSONDecodeError:  # the query chose its own output FORMAT
        raise QueryRefused("The panel reads JSON rows: leave out the FORMAT clause") from None
    return Result(columns, rows, (time.perf_counter() - started) * 1000)


def _at_most(stream, limit: int) -> bytes | None:
    """The whole response, or None as soon as it is longer than `limit` bytes."""
    body = bytearray()
    for chunk in stream:
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _clickhouse_message(text: str) -> str:
    # clickhouse-connect wraps the server's text; show from ClickHouse's "Code: N." on.
    start = text.find("Code: ")
    message = text[start:] if start >= 0 else text
    return message.split(" (for url")[0].strip()


def _cell(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
