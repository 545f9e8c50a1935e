"""The Native encoder of the trades insert, checked against the real engine."""

from __future__ import annotations

import uuid

import pytest

from clickhouse import native


def test_varint_matches_leb128():
    assert [native._varint(n) for n in (0, 127, 128, 300, 2**32)] == [
        b"\x00", b"\x7f", b"\x80\x01", b"\xac\x02", b"\x80\x80\x80\x80\x10"]


def test_columns_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="expected 2"):
        native.block([("a", "UInt16", [1, 2]), ("b", "UInt16", [1])])


GOOD_ID = "0b1c2d3e-0000-4000-8000-000000000001"


@pytest.mark.parametrize("bad", [
    GOOD_ID[:-1] + " ",                        # whitespace, which bytes.fromhex skips
    GOOD_ID[:-1] + "g",                        # not hexadecimal
    GOOD_ID + "0",                             # too long
    GOOD_ID[:8] + "0" + GOOD_ID[9:],           # a dash missing
    GOOD_ID[:30] + "é" + GOOD_ID[31:],         # not ASCII
    GOOD_ID.replace("-", "", 1) + "-",         # a dash out of place
])
def test_a_malformed_uuid_is_refused_and_cannot_shift_its_neighbours(bad):
    with pytest.raises(ValueError):
        native.uuid_column([GOOD_ID, bad, GOOD_ID])


@pytest.mark.services
def test_block_round_trips_through_clickhouse(ch):
    ch.command("""CREATE TABLE t (id UUID, ts DateTime64(3, 'UTC'), s LowCardinality(String), p Decimal(18, 2),
                  q UInt32, part UInt16, o UInt64) ENGINE = MergeTree ORDER BY id""")
    ids = [str(uuid.uuid4()) for _ in range(3)] + ["ffffffff-ffff-4fff-bfff-ffffffffffff"]
    strings = ["AAPL", "É" * 200, "", "a\tb\nc"]
    columns = [
        ("id", "UUID", ids), ("ts", "DateTime64(3, 'UTC')", [0, 1583934115727, 2**40, 1]),
        ("s", "String", strings), ("p", "Decimal(18, 2)", [1, 2501, 10**15, 99]),
        ("q", "UInt32", [1, 2**32 - 1, 3, 4]), ("part", "UInt16", [0, 1, 2, 65535]),
        ("o", "UInt64", [0, 2**64 - 1, 5, 6]),
    ]
    ch.raw_insert("t", [c[0] for c in columns], insert_block=native.block(columns), fmt="Native")

    rows = ch.query("SELECT toString(id), toUnixTimestamp64Milli(ts), s, toString(p), q, part, o FROM t").result_rows
    assert sorted(rows) == sorted(zip(ids, [0, 1583934115727, 2**40, 1], strings,
                                      ["0.01", "25.01", "10000000000000", "0.99"], [1, 2**32 - 1, 3, 4],
                                      [0, 1, 2, 65535], [0, 2**64 - 1, 5, 6], strict=False))
