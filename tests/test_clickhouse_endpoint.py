"""The embedded ClickHouse endpoint, driven through clickhouse-connect as the project uses it."""

from __future__ import annotations

import datetime as dt
import http.client
import multiprocessing
import time
import uuid
from decimal import Decimal
from pathlib import Path

import clickhouse_connect
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError
from django.conf import settings

from clickhouse.connection import client_settings

pytestmark = pytest.mark.services

CAP_SYS_NICE = 23  # linux/capability.h's bit number

TRADE_COLUMNS = ["id", "ts", "symbol", "price", "quantity", "partition", "offset"]


def create_trades(ch, table: str = "trades") -> None:
    ch.command(f"""
        CREATE TABLE {table} (
            id UUID, ts DateTime64(3, 'UTC'), symbol LowCardinality(String),
            price Decimal(18, 2), quantity UInt32, partition UInt16, offset UInt64
        ) ENGINE = MergeTree ORDER BY (symbol, ts, id)""")


def sample_trades(count: int, symbol: str = "ENTG") -> list[list]:
    start = dt.datetime(2026, 3, 11, 13, 41, 55, 727000, tzinfo=dt.UTC)
    return [
        [uuid.uuid4(), start + dt.timedelta(milliseconds=i), symbol, Decimal(2501 + i) / 100, 99 + i, i % 3, i]
        for i in range(count)
    ]


def test_every_column_type_round_trips(ch):
    create_trades(ch)
    rows = sample_trades(5)
    ch.insert("trades", rows, column_names=TRADE_COLUMNS)

    result = ch.query("SELECT id, ts, symbol, price, quantity, partition, offset FROM trades ORDER BY offset")

    assert [list(row) for row in result.result_rows] == rows
    assert result.column_types[3].name == "Decimal(18, 2)"
    assert isinstance(result.result_rows[0][3], Decimal)


def test_column_oriented_insert_and_parameterized_query(ch):
    create_trades(ch)
    rows = sample_trades(1000)
    columns = [list(column) for column in zip(*rows, strict=False)]
    ch.insert("trades", columns, column_names=TRADE_COLUMNS, column_oriented=True)

    found = ch.query(
        "SELECT count(), sum(quantity) FROM trades WHERE symbol = {symbol:String} AND offset < {limit:UInt64}",
        parameters={"symbol": "ENTG", "limit": 10},
    ).result_rows
    hostile = ch.query("SELECT count() FROM trades WHERE symbol = {symbol:String}",
                       parameters={"symbol": "'; DROP TABLE trades; --"}).result_rows

    assert found == [(10, sum(99 + i for i in range(10)))]
    assert hostile == [(0,)]
    assert ch.command("SELECT count() FROM trades") == 1000


def test_summing_merge_tree_fed_by_materialized_view(ch):
    create_trades(ch)
    ch.command("""
        CREATE TABLE totals (symbol LowCardinality(String), trades UInt64, volume Decimal(38, 2))
        ENGINE = SummingMergeTree ORDER BY symbol""")
    ch.command("""
        CREATE MATERIALIZED VIEW totals_mv TO totals AS
        SELECT symbol, count() AS trades, sum(price * quantity) AS volume FROM trades GROUP BY symbol""")
    batches = [sample_trades(100, "AAPL"), sample_trades(50, "MSFT"), sample_trades(25, "AAPL")]
    for batch in batches:
        ch.insert("trades", batch, column_names=TRADE_COLUMNS)

    totals = dict(
        (symbol, (trades, volume))
        for symbol, trades, volume in ch.query(
            "SELECT symbol, sum(trades), sum(volume) FROM totals GROUP BY symbol"
        ).result_rows
    )

    expected: dict[str, list] = {}
    for row in (row for batch in batches for row in batch):
        entry = expected.setdefault(row[2], [0, Decimal(0)])
        entry[0] += 1
        entry[1] += row[3] * row[4]
    assert totals == {symbol: tuple(value) for symbol, value in expected.items()}


def test_a_small_part_is_one_file_unless_the_table_says_otherwise(ch):
    """The engine's engine.xml packs small parts into one file each; a table's own setting still wins."""
    create_trades(ch, "packed")
    create_trades(ch, "full")
    ch.command("ALTER TABLE full MODIFY SETTING min_bytes_for_full_part_storage = 0")
    for table in ("packed", "full"):
        ch.insert(table, sample_trades(10), column_names=TRADE_COLUMNS)

    storage = ch.query("SELECT table, part_storage_type FROM system.parts WHERE database = currentDatabase() "
                       "AND active ORDER BY table").result_rows
    assert storage == [("full", "Full"), ("packed", "Packed")]


def test_chunked_insert_of_a_million_rows(ch):
    """clickhouse-connect streams large inserts; a raw chunked POST must work too."""
    ch.command("CREATE TABLE numbers_copy (n UInt64, s String) ENGINE = MergeTree ORDER BY n")
    rows = 1_000_000

    def chunks():
        for start in range(0, rows, 100_000):
            yield "".join(f"{n}\tv{n}\n" for n in range(start, start + 100_000)).encode()

    connection = http.client.HTTPConnection("127.0.0.1", client_settings(settings.CLICKHOUSE_URL)["port"], timeout=120)
    connection.request(
        "POST",
        f"/?database={ch.database}&query=INSERT+INTO+numbers_copy+FORMAT+TabSeparated",
        body=chunks(),
        encode_chunked=True,
        headers={"Transfer-Encoding": "chunked"},
    )
    response = connection.getresponse()
    assert (response.status, response.read()) == (200, b"")

    ch.insert("numbers_copy", [list(range(rows, 2 * rows)), [f"w{n}" for n in range(rows)]],
              column_names=["n", "s"], column_oriented=True)

    assert ch.query("SELECT count(), uniqExact(n), min(n), max(n) FROM numbers_copy").result_rows == [
        (2 * rows, 2 * rows, 0, 2 * rows - 1)
    ]


@pytest.mark.parametrize("compression", ["lz4", "gzip", "zstd"])
def test_compressed_requests(scratch_database, compression):
    ch = clickhouse_connect.get_client(
        **{**client_settings(settings.CLICKHOUSE_URL, database=scratch_database), "compress": compression}
    )
    create_trades(ch)
    ch.insert("trades", sample_trades(2000), column_names=TRADE_COLUMNS)
    assert ch.command("SELECT count() FROM trades") == 2000


@pytest.mark.parametrize(
    ("query", "code"),
    [("SELECT * FROM no_such_table", 60), ("SELEC 1", 62), ("SELECT 1 SETTINGS no_such_setting = 1", 115)],
)
def test_errors_carry_clickhouse_codes(ch, query, code):
    with pytest.raises(DatabaseError) as error:
        ch.query(query)
    assert error.value.code == code


def test_read_only_user_cannot_write_or_lift_readonly(ch, scratch_database):
    create_trades(ch)
    ro = clickhouse_connect.get_client(**client_settings(settings.CLICKHOUSE_READONLY_URL, database=scratch_database))

    for attempt in (
        lambda: ro.insert("trades", sample_trades(1), column_names=TRADE_COLUMNS),
        lambda: ro.command("INSERT INTO trades SELECT * FROM trades"),
        lambda: ro.command("ALTER TABLE trades DELETE WHERE 1"),
        lambda: ro.command("DROP TABLE trades"),
        lambda: ro.query("SELECT 1 SETTINGS readonly = 0"),
        lambda: ro.command("SET readonly = 0"),
    ):
        with pytest.raises(DatabaseError) as error:
            attempt()
        assert error.value.code == 164
    assert ro.command("SELECT count() FROM trades") == 0


def test_a_kept_parse_is_checked_against_the_grants_again_in_another_database(ch, scratch_database):
    """The endpoint keeps the parse of a query a grant check has read (chendpoint/server.py,
    ParseCache); what the parse names is checked against the user's grants every time."""
    other = f"other_{uuid.uuid4().hex[:12]}"  # outside the read users' grant (trademonitor*)
    admin = clickhouse_connect.get_client(**client_settings(settings.CLICKHOUSE_URL, database="default"))
    admin.command(f"CREATE DATABASE {other}")
    try:
        for database in (scratch_database, other):
            admin.command(f"CREATE TABLE {database}.probe (x UInt8) ENGINE = Memory")
        granted, refused = (clickhouse_connect.get_client(**client_settings(settings.CLICKHOUSE_READONLY_URL,
                                                                           database=database))
                            for database in (scratch_database, other))
        for _ in range(2):  # the second is served from the kept parse
            assert granted.command("SELECT count() FROM probe") == 0
        with pytest.raises(DatabaseError) as error:
            refused.command("SELECT count() FROM probe")
        assert error.value.code == 497 and f"{other}.probe" in str(error.value)
        # A table named by a parameter: the same text, parsed again for each value.
        by_name = "SELECT count() FROM {database:Identifier}.probe"
        assert granted.command(by_name, parameters={"database": scratch_database}) == 0
        with pytest.raises(DatabaseError) as error:
            granted.command(by_name, parameters={"database": other})
        assert error.value.code == 497
    finally:
        admin.command(f"DROP DATABASE IF EXISTS {other} SYNC")


def test_wrong_password_is_refused_with_516(services):
    wrong = {**client_settings(settings.CLICKHOUSE_URL), "password": "not-the-password"}
    with pytest.raises(DatabaseError) as error:
        clickhouse_connect.get_client(**wrong)
    assert error.value.code == 516


def _insert_batches(url: str, database: str, worker: int, batches: int, rows: int) -> None:
    ch = clickhouse_connect.get_client(**client_settings(url, database=database))
    for batch in range(batches):
        base = (worker * batches + batch) * rows
        ch.insert("numbers", [list(range(base, base + rows))], column_names=["n"], column_oriented=True)


def _query_repeatedly(url: str, database: str, times: int) -> int:
    ch = clickhouse_connect.get_client(**client_settings(url, database=database))
    seen = 0
    for _ in range(times):
        count, unique = ch.query("SELECT count(), uniqExact(n) FROM numbers").result_rows[0]
        assert count == unique  # never a torn or duplicated read
        seen = max(seen, count)
    return seen


def test_eight_writers_and_four_readers_in_parallel(ch, scratch_database):
    ch.command("CREATE TABLE numbers (n UInt64) ENGINE = MergeTree ORDER BY n")
    writers, batches, rows = 8, 20, 5_000
    context = multiprocessing.get_context("spawn")
    with context.Pool(12) as pool:
        inserts = [
            pool.apply_async(_insert_batches, (settings.CLICKHOUSE_URL, scratch_database, w, batches, rows))
            for w in range(writers)
        ]
        queries = [pool.apply_async(_query_repeatedly, (settings.CLICKHOUSE_URL, scratch_database, 40))
                   for _ in range(4)]
        for result in inserts + queries:
            result.get(timeout=300)

    assert ch.query("SELECT count(), uniqExact(n), max(n) FROM numbers").result_rows == [
        (writers * batches * rows, writers * batches * rows, writers * batches * rows - 1)
    ]


def test_data_survives_a_restart(endpoint):
    ch = clickhouse_connect.get_client(**client_settings(endpoint.url))
    ch.command("CREATE TABLE kept (n UInt64) ENGINE = MergeTree ORDER BY n")
    ch.insert("kept", [list(range(12345))], column_names=["n"], column_oriented=True)

    endpoint.stop()
    endpoint.start()

    ch = clickhouse_connect.get_client(**client_settings(endpoint.url))
    assert ch.query("SELECT count(), sum(n) FROM kept").result_rows == [(12345, sum(range(12345)))]


def test_ping_and_get_queries_are_read_only(endpoint):
    connection = http.client.HTTPConnection("127.0.0.1", endpoint.port)
    connection.request("GET", "/ping")
    assert connection.getresponse().read() == b"Ok.\n"
    connection.request("GET", "/?query=CREATE+TABLE+t+(n+UInt8)+ENGINE=Memory")
    response = connection.getresponse()
    response.read()
    assert (response.status, response.getheader("X-ClickHouse-Exception-Code")) == (500, "164")
    connection.request("GET", "/?query=SELECT+%7Bn%3AUInt8%7D+%2B+1&param_n=41")
    assert connection.getresponse().read() == b"42\n"


def test_a_query_failing_mid_output_leaves_nothing_for_the_next(endpoint):
    """A fresh endpoint has one pooled connection per user, so the second query would reuse the failed one
    (as the SQL panel's user, over its 1,000-row limit: how a clean-clone run first met it)."""
    connection = http.client.HTTPConnection("127.0.0.1", endpoint.port)
    headers = {"X-ClickHouse-User": "trademonitor_panel", "X-ClickHouse-Key": "panel-secret"}
    for _ in range(3):
        connection.request("POST", "/?default_format=JSONCompactEachRowWithNames",
                           b"SELECT number FROM numbers(100000)", headers)
        response = connection.getresponse()
        assert (response.status, response.getheader("X-ClickHouse-Exception-Code")) == (500, "396")
        response.read()
        connection.request("POST", "/?default_format=JSONCompactEachRowWithNames", b"SELECT 1 AS x", headers)
        assert connection.getresponse().read() == b'["x"]\n[1]\n'


@pytest.mark.parametrize("setting", ["readonly=1", "readonly=2", "allow_ddl=0"])
def test_a_setting_a_session_cannot_take_back_lasts_one_request(endpoint, setting):
    """clickhouse-server applies a request's settings to that request alone. A chdb session
    refuses to lift readonly or allow_ddl once a request has set them, so the connection that
    ran it must not serve the next request: the writer's next statement would be refused."""
    connection = http.client.HTTPConnection("127.0.0.1", endpoint.port)
    for n in range(3):
        connection.request("POST", f"/?{setting}", b"SELECT 1")
        assert connection.getresponse().read() == b"1\n"
        connection.request("POST", "/", f"CREATE TABLE IF NOT EXISTS t{n} (n UInt8) ENGINE = Memory".encode())
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"")


def test_merges_run_at_the_lowest_cpu_priority(endpoint):
    """engine.xml's nice value reaches the engine's merge threads while they merge (each
    takes it for a merge and gives it back after), so queries and inserts go first."""
    if not has_capability(CAP_SYS_NICE):
        pytest.skip("ClickHouse sets a thread's nice value only with CAP_SYS_NICE")
    ch = clickhouse_connect.get_client(**client_settings(endpoint.url))
    ch.command("CREATE TABLE merged (n UInt64, s String) ENGINE = MergeTree ORDER BY n")
    ch.command("SYSTEM STOP MERGES merged")
    for start in range(0, 6_000_000, 1_000_000):
        ch.command(f"INSERT INTO merged SELECT number, toString(number) FROM numbers({start}, 1000000)")
    ch.command("SYSTEM START MERGES merged")

    nice_values = set()
    deadline = time.monotonic() + 60
    while ch.query("SELECT count() FROM system.parts WHERE table = 'merged' AND active").result_rows[0][0] > 1:
        assert time.monotonic() < deadline, "the six parts were not merged in 60 s"
        nice_values |= thread_nice_values(endpoint.process.pid, "MergeMutate")
    assert 19 in nice_values, nice_values


def has_capability(bit: int) -> bool:
    """Whether this process (and so the endpoint it starts) has the capability `bit`."""
    effective = Path("/proc/self/status").read_text().split("CapEff:")[1].split()[0]
    return bool(int(effective, 16) >> bit & 1)


def thread_nice_values(pid: int, name_prefix: str) -> set[int]:
    """The nice values of `pid`'s threads whose name starts with `name_prefix`, as of now."""
    values = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if (task / "comm").read_text().startswith(name_prefix):
                # stat's fields after the name: state is the first, nice the 17th (proc(5)).
                values.add(int((task / "stat").read_text().rsplit(") ", 1)[1].split()[16]))
        except (FileNotFoundError, ProcessLookupError):  # the thread ended while it was read
            continue
    return values
