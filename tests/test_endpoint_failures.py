"""Failed inserts answer as clickhouse-server does: 500 with the engine's code, never 200.

Every case streams its rows the way clickhouse-connect does (query in the URL, rows
in the body), fails, is fixed, and is retried with the same deduplication token:
the retry must leave the rows exactly once in the table and in every view's target.
A 200 must mean the rows were written, as many as the summary says.
"""

from __future__ import annotations

from dataclasses import dataclass

import clickhouse_connect
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError
from django.conf import settings

from clickhouse.connection import client_settings
from clickhouse.writer import INSERT_SETTINGS

pytestmark = pytest.mark.services

ROWS = 100
TSV = b"".join(f"S{i % 7}\t{i % 3}\n".encode() for i in range(ROWS))

VIEW = "CREATE MATERIALIZED VIEW totals_mv TO totals AS SELECT symbol, count() AS trades FROM source {where} " \
       "GROUP BY symbol"
TABLES = (
    "CREATE TABLE source (symbol String, n UInt8) ENGINE = MergeTree ORDER BY symbol "
    "SETTINGS non_replicated_deduplication_window = 100",
    "CREATE TABLE totals (symbol String, trades UInt64) ENGINE = SummingMergeTree ORDER BY symbol "
    "SETTINGS non_replicated_deduplication_window = 100",
    VIEW.format(where=""),
)


@dataclass(frozen=True)
class Case:
    name: str
    code: int  # what clickhouse-server answers, in X-ClickHouse-Exception-Code
    break_it: tuple[str, ...] = ()  # DDL that makes the insert fail ...
    fix_it: tuple[str, ...] = ()  # ... and DDL that lets the retry succeed
    table: str = "source"
    data: bytes = TSV
    fmt: str = "TSV"
    settings: tuple = ()
    # The table before the view is not rolled back, on the server either. None: the
    # blocks written before the failure, however many the engine got through.
    source_rows_after_failure: int | None = 0


CASES = [
    Case("parse error mid-body", 27, data=TSV + b"S1\tnot-a-number\n" + TSV),
    Case("constraint on the target", 469,
         break_it=("ALTER TABLE source ADD CONSTRAINT small CHECK n < 2",),
         fix_it=("ALTER TABLE source DROP CONSTRAINT small",)),
    Case("constraint on a view's target", 469,
         break_it=("ALTER TABLE totals ADD CONSTRAINT few CHECK trades < 10",),
         fix_it=("ALTER TABLE totals DROP CONSTRAINT few",), source_rows_after_failure=ROWS),
    Case("a view that throws", 395,
         break_it=("DROP VIEW totals_mv", VIEW.format(where="WHERE throwIf(n = 2, 'no twos') = 0")),
         fix_it=("DROP VIEW totals_mv", VIEW.format(where="")), source_rows_after_failure=ROWS),
    Case("a missing table", 60, table="absent"),
    Case("a missing column", 16, table="source (symbol, n, missing)"),
    # The parser cuts a body this long into blocks; whether the limit is reached before
    # the first is written depends on the engine's allocations, so the failure leaves
    # a prefix of whole blocks, which the retry's token deduplicates.
    Case("over max_memory_usage", 241, data=TSV * 20_000, settings=(("max_memory_usage", "4000000"),),
         source_rows_after_failure=None),
]


@pytest.fixture
def writer(ch):
    for statement in TABLES:
        ch.command(statement)
    return ch


def counts(client) -> tuple[int, int]:
    return (client.command("SELECT count() FROM source"),
            client.command("SELECT sum(trades) FROM totals") or 0)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_failed_streamed_insert_answers_500_and_its_retry_completes_it(writer, case):
    for statement in case.break_it:
        writer.command(statement)
    token = f"retry-{case.name}"

    with pytest.raises(DatabaseError) as refused:
        writer.raw_insert(case.table, insert_block=case.data, fmt=case.fmt,
                          settings={**INSERT_SETTINGS, **dict(case.settings), "insert_deduplication_token": token})

    assert refused.value.code == case.code, str(refused.value)[:300]
    rows = case.data.count(b"\n") - (1 if case.code == 27 else 0)
    if case.source_rows_after_failure is None:
        source, totals = counts(writer)
        assert source < rows and totals <= source
    else:
        assert counts(writer) == (case.source_rows_after_failure, 0)

    for statement in case.fix_it:
        writer.command(statement)
    table = "source"  # the missing table's and column's fix: the right name
    data = case.data.replace(b"S1\tnot-a-number\n", b"")
    for _attempt in range(2):  # the retry, and a retry of the retry: deduplicated into one
        writer.raw_insert(table, insert_block=data, fmt=case.fmt,
                          settings={**INSERT_SETTINGS, "insert_deduplication_token": token})
    assert counts(writer) == (rows, rows)


def test_a_type_mismatch_in_native_is_refused(writer):
    native = writer.raw_query("SELECT 'S1' AS symbol, 'not a number' AS n FORMAT Native")

    with pytest.raises(DatabaseError) as refused:
        writer.raw_insert("source", ["symbol", "n"], insert_block=native, fmt="Native", settings=INSERT_SETTINGS)

    assert refused.value.code in (6, 53), str(refused.value)[:300]  # CANNOT_PARSE_TEXT or TYPE_MISMATCH
    assert counts(writer) == (0, 0)


def test_a_successful_insert_reports_what_it_wrote(writer):
    summary = writer.raw_insert("source", insert_block=TSV, fmt="TSV", settings=INSERT_SETTINGS)

    assert counts(writer) == (ROWS, ROWS)
    # As clickhouse-server counts it: the table's rows and the view's (one per symbol, 7).
    assert summary.written_rows == ROWS + 7


def test_the_project_writer_raises_when_a_view_refuses_the_batch(services, scratch_database):
    """clickhouse.writer.insert_trades into a database chmigrate built, candles refusing the batch."""
    from clickhouse.migrate import Migrator
    from clickhouse.writer import insert_trades

    Migrator(settings.CLICKHOUSE_URL, scratch_database).apply()
    client = clickhouse_connect.get_client(**client_settings(settings.CLICKHOUSE_URL, database=scratch_database))
    client.command("ALTER TABLE candles_1m ADD CONSTRAINT cheap CHECK high < 100")
    columns = [["0b6f3d3e-7f8e-4a55-9e36-0d3c1a2b3c4d", "1c6f3d3e-7f8e-4a55-9e36-0d3c1a2b3c4d"],
               [1583934115727, 1583934115728], ["ENTG", "ENTG"], [2501, 250100], [99, 1], [0, 0], [0, 1]]

    with pytest.raises(DatabaseError) as refused:
        insert_trades(client, columns, "trades-0-0-1")

    assert refused.value.code == 469
    assert client.command("SELECT count() FROM candles_1m") == 0


@pytest.mark.parametrize(("query", "code"), [
    ("INSERT INTO source FROM INFILE '/etc/passwd' FORMAT LineAsString", 78),  # UNKNOWN_TYPE_OF_QUERY
    ("SELECT 1 INTO OUTFILE '/tmp/chendpoint-outfile-test'", 358),  # INTO_OUTFILE_NOT_ALLOWED
])
def test_files_of_the_host_are_out_of_reach_as_on_the_server(writer, query, code):
    """clickhouse-server refuses both over HTTP (they are clickhouse-client's); chdb would run them."""
    with pytest.raises(DatabaseError) as refused:
        writer.command(query)

    assert refused.value.code == code
    assert counts(writer) == (0, 0)
