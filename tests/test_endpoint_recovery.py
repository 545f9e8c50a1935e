"""The endpoint's start after a crash mid-insert (devservices/chendpoint/recovery.py).

A table's deduplication log records a block before its part is committed. Killed
between the two, the engine kept the record, and the worker's identical retry was
dropped from that table alone: `symbol_totals` short of `trades` (seen in CI after
the endpoint was SIGKILLed). The state a kill leaves is made here on purpose: the
record on disk, its part gone.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import clickhouse_connect
import pytest

from clickhouse.connection import client_settings
from clickhouse.migrate import Migrator
from clickhouse.writer import insert_trades
from devservices.chendpoint.recovery import LOG_DIRECTORY, REWRITE_SCRATCH, forget_uncommitted_blocks
from harness.pool import database_url

ROWS = 500


def write_log(table: Path, parts: list[str], records: list[str]) -> Path:
    for part in parts:
        (table / part).mkdir(parents=True)
    (table / LOG_DIRECTORY).mkdir(parents=True)
    log = table / LOG_DIRECTORY / "deduplication_log_1.txt"
    log.write_text("".join(f"{record}\n" for record in records))
    return log


def test_only_records_of_parts_neither_on_disk_nor_covered_are_removed(tmp_path):
    table = tmp_path / "store" / "abc" / "abcdef-uuid"
    kept = [
        "1\tall_1_1_0\tall_11_12",  # its part is on disk
        "1\tall_2_2_0\tall_21_22",  # merged: all_2_4_1 covers it
        "1\t202512_7_7_0\t202512_71_72",  # another partition, on disk
        "2\tall_5_5_0\tall_51_52",  # a DROP record stays whatever it names
    ]
    uncommitted = [
        "1\tall_5_5_0\tall_51_52",  # past every part of its partition: the crash's
        "1\t202511_3_3_0\t202511_31_32",  # its partition has no part at all
    ]
    log = write_log(table, ["all_1_1_0", "all_2_4_1", "202512_7_7_0", "tmp_insert_all_5_5_0", "detached"],
                    [kept[0], kept[1], uncommitted[0], kept[2], kept[3], uncommitted[1]])

    removed = forget_uncommitted_blocks(tmp_path)

    assert removed == [f"abcdef-uuid: {record}" for record in uncommitted]
    assert log.read_text().splitlines() == [kept[0], kept[1], kept[2], kept[3]]
    assert sorted(entry.name for entry in log.parent.iterdir()) == [log.name]  # the engine reads each as a log
    assert forget_uncommitted_blocks(tmp_path) == []  # nothing more the second time


def test_a_log_without_uncommitted_records_is_left_untouched(tmp_path):
    log = write_log(tmp_path / "store" / "abc" / "abcdef-uuid", ["all_1_1_0"], ["1\tall_1_1_0\tall_11_12"])
    written = log.stat().st_mtime_ns
    (tmp_path / REWRITE_SCRATCH).write_text("1\tall_9_9_0\tall_91_92\n")  # a start killed mid-rewrite
    assert forget_uncommitted_blocks(tmp_path) == []
    assert log.stat().st_mtime_ns == written
    assert not (tmp_path / REWRITE_SCRATCH).exists()


def trade_columns(rows: int) -> list[list]:
    return [
        [str(uuid.uuid4()) for _ in range(rows)],
        [1_764_547_200_000 + i for i in range(rows)],
        [f"S{i % 50}" for i in range(rows)],
        [2501 + i for i in range(rows)],
        [1 + i % 9 for i in range(rows)],
        [0] * rows,
        list(range(rows)),
    ]


@pytest.mark.services
def test_the_retry_of_an_insert_killed_between_record_and_part_reaches_every_table(endpoint):
    database = f"trademonitor_t{uuid.uuid4().hex[:10]}"
    Migrator(endpoint.url, database).apply()

    def client():
        return clickhouse_connect.get_client(**client_settings(database_url(endpoint.url, database)))

    def stored() -> dict[str, int]:
        return {table: client().command(f"SELECT {total} FROM {table}") for table, total in
                (("trades", "count()"), ("symbol_totals", "sum(trades)"), ("candles_1m", "sum(trades)"))}

    columns, token = trade_columns(ROWS), f"recovery-0-0-{ROWS - 1}"
    insert_trades(client(), columns, token)
    totals_dir = Path(client().command(
        "SELECT arrayElement(data_paths, 1) FROM system.tables WHERE database = currentDatabase() "
        "AND name = 'symbol_totals'"))
    endpoint.stop()
    # What a kill after the record and before the part's commit leaves: the record alone.
    parts = [entry for entry in totals_dir.iterdir() if entry.name.startswith("all_")]
    assert len(parts) == 1 and (totals_dir / LOG_DIRECTORY).is_dir()
    shutil.rmtree(parts[0])
    endpoint.start()
    assert stored() == {"trades": ROWS, "symbol_totals": 0, "candles_1m": ROWS}

    insert_trades(client(), columns, token)  # the worker's retry: identical, same token

    assert stored() == {"trades": ROWS, "symbol_totals": ROWS, "candles_1m": ROWS}
    insert_trades(client(), columns, token)  # and a further retry is still dropped everywhere
    assert stored() == {"trades": ROWS, "symbol_totals": ROWS, "candles_1m": ROWS}
