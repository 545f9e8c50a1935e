"""Which ClickHouse answers a worker waits out and which stop it (clickhouse/errors.py)."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError, ProgrammingError

from clickhouse.errors import is_transient


@pytest.mark.parametrize("code", [159, 202, 241, 242, 252, 285, 319, 999])
def test_load_limits_replicas_and_unknown_insert_status_are_waited_out(code):
    assert is_transient(DatabaseError("busy", code=code))


@pytest.mark.parametrize("code", [16, 27, 53, 60, 81, 395, 469, 497])
def test_errors_about_the_data_or_the_schema_stop_the_worker(code):
    # missing column, parse error, type mismatch, missing table or database, a view that throws,
    # a violated constraint, no privilege
    assert not is_transient(DatabaseError("refused", code=code))


def test_no_answer_at_all_is_waited_out_and_a_programming_error_is_not():
    assert is_transient(OperationalError("connection refused"))
    assert is_transient(DatabaseError("a proxy's 502, no ClickHouse code"))
    assert not is_transient(ProgrammingError("bad call"))
    assert not is_transient(ValueError("not ClickHouse's"))
