"""The dashboard's SQL panel: a visitor's query, run as ClickHouse's panel user.

Everything that keeps the panel harmless lives on the ClickHouse side, in that
user's profile, grants and quota (deploy/clickhouse/users.xml): read-only (no
table functions, no settings from the query), SELECT on the project database
only, 1,000 rows, 10 MB, 5 s, a memory and a thread cap, two queries at once, a
quota a minute. Nothing here can lift them: this module sends no settings.
ClickHouse's own error message is shown.

A result over the limits is refused, not cut. ClickHouse checks its result limits
block by block, so one huge block passes them (BENCHMARKS.md, "Measurements behind
design choices"); the bytes limit is therefore also applied here, to the response as
it streams in."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from clickhouse.connection import PanelError, panel_query

MAX_ROWS = 1000  # the panel user's max_result_rows (users.xml); said here for messages
MAX_BYTES = 10_000_000  # its max_result_bytes
MAX_SECONDS = 5  # its max_execution_time
MAX_QUERY_CHARS = 10_000
# The server stops a query at MAX_SECONDS; the panel waits a little longer for its answer.
ANSWER_SECONDS = MAX_SECONDS + 3
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
    rows: list[list[Any]]
    elapsed_ms: float


def run(sql: str, visitor: str) -> Result:
    """Run a visitor's query; `visitor` (a user id or an address) keys ClickHouse's quota."""
    sql = sql.strip().rstrip(";")
    if not sql:
        raise QueryRefused("Empty query")
    if len(sql) > MAX_QUERY_CHARS:
        raise QueryRefused(f"Query longer than {MAX_QUERY_CHARS} characters")
    started = time.perf_counter()
    try:
        with panel_query(sql, "JSONCompactEachRowWithNames", ANSWER_SECONDS, visitor) as stream:
            body = _at_most(stream, MAX_BYTES)
    except PanelError as exc:
        raise QueryRefused(_clickhouse_message(str(exc))) from None
    if body is None:
        raise QueryRefused(f"Result larger than {MAX_BYTES:,} bytes: select fewer or narrower rows")
    try:
        lines = body.splitlines()
        columns = orjson.loads(lines[0]) if lines else []
        rows = [[_cell(value) for value in orjson.loads(line)] for line in lines[1:]]
        if not isinstance(columns, list) or not all(isinstance(name, str) for name in columns):
            raise ValueError
    except (orjson.JSONDecodeError, TypeError, ValueError):  # the query chose its own output FORMAT
        raise QueryRefused("The panel reads JSON rows: leave out the FORMAT clause") from None
    return Result(columns, rows, (time.perf_counter() - started) * 1000)


def _at_most(stream: Iterable[bytes], limit: int) -> bytes | None:
    """The whole response, or None as soon as it is longer than `limit` bytes."""
    body = bytearray()
    for chunk in stream:
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _clickhouse_message(text: str) -> str:
    """ClickHouse's reason in one line: from its "Code: N." on, less the version trailer."""
    start = text.find("Code: ")
    message = (text[start:] if start >= 0 else text).splitlines()[0] if text else "ClickHouse refused the query"
    return message.split(" (version ")[0].strip()


def _cell(value: object) -> bool | int | float | str | None:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
