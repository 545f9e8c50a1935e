"""ClickHouse's Native format for the trades insert, encoded column by column.

clickhouse-connect serialises Python values one at a time, which made serialisation
the largest cost of a worker (BENCHMARKS.md, "Measurements behind design choices").
The trades insert has one fixed shape whose columns
arrive here already as plain integers and strings, so each column is encoded in
one pass, mostly by `array` in C. The block is sent with clickhouse-connect's
`raw_insert`; ClickHouse converts the wire types to the table's (String to
LowCardinality(String)). Decimal(18, 2) travels as its Int64 of cents, which is
exactly how ClickHouse stores it.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Callable, Sequence
from typing import Any

_LITTLE_ENDIAN = sys.byteorder == "little"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _string(value: str) -> bytes:
    data = value.encode()
    return _varint(len(data)) + data


def _fixed(typecode: str, values: Sequence[int]) -> bytes:
    packed = array(typecode, values)
    if not _LITTLE_ENDIAN:
        packed.byteswap()
    return packed.tobytes()


def uuid_column(values: Sequence[str]) -> bytes:
    """UUIDs as ClickHouse stores them: the high 64 bits, then the low, each little-endian.

    All values are decoded by one `bytes.fromhex`, several times faster than one by one.
    So that no malformed value can shift the others, each must be 36 characters
    with its four dashes in place; fromhex refuses what is not hexadecimal, and the
    length check any whitespace it skipped."""
    joined = "".join(values)
    if (len(joined) != 36 * len(values) or joined.count("-") != 4 * len(values)
            or any(joined[dash::36].strip("-") for dash in (8, 13, 18, 23))):
        raise ValueError("a value of the UUID column is not an 8-4-4-4-12 UUID")
    raw = bytes.fromhex(joined.replace("-", ""))
    if len(raw) != 16 * len(values):
        raise ValueError("a value of the UUID column is not an 8-4-4-4-12 UUID")
    halves = array("Q", raw)
    halves.byteswap()  # each big-endian half of the UUID, little-endian
    return halves.tobytes()


def string_column(values: Sequence[str]) -> bytes:
    # Symbols repeat: encode each distinct one once.
    encoded = {value: _string(value) for value in set(values)}
    return b"".join([encoded[value] for value in values])


ENCODERS: dict[str, Callable[[Sequence[Any]], bytes]] = {
    "UUID": uuid_column,
    "String": string_column,
    "Int64": lambda values: _fixed("q", values),
    "UInt64": lambda values: _fixed("Q", values),
    "UInt32": lambda values: _fixed("I", values),
    "UInt16": lambda values: _fixed("H", values),
}


def block(columns: Sequence[tuple[str, str, Sequence[Any]]]) -> bytes:
    """One Native block of (name, wire type, values) columns. The wire type is one of
    ENCODERS' keys, or `DateTime64(3, 'UTC')` / `Decimal(P, S)` carried as Int64."""
    rows = len(columns[0][2])
    parts = [_varint(len(columns)), _varint(rows)]
    for name, wire_type, values in columns:
        if len(values) != rows:
            raise ValueError(f"column {name} has {len(values)} values, expected {rows}")
        encoder = ENCODERS.get(wire_type) or (ENCODERS["Int64"] if _is_int64_backed(wire_type) else None)
        if encoder is None:
            raise ValueError(f"no Native encoder for {wire_type}")
        parts += [_string(name), _string(wire_type), encoder(values)]
    return b"".join(parts)


def _is_int64_backed(wire_type: str) -> bool:
    return wire_type.startswith("DateTime64(") or (wire_type.startswith("Decimal(") and _precision(wire_type) <= 18)


def _precision(decimal_type: str) -> int:
    return int(decimal_type[len("Decimal("):].split(",")[0])
