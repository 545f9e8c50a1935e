"""Django's SQLite file, shared by the supervisors, the workers and the web in development."""

from __future__ import annotations

import sqlite3

import pytest
from django.db import OperationalError, connections, transaction
from django.db.backends.sqlite3.base import DatabaseWrapper


@pytest.fixture
def shared_file(tmp_path, django_db_blocker):
    """A connection made from the project's settings to a SQLite file of its own, under
    the alias `shared` (transaction.atomic names it), and the file's path. Not the test
    database: each test makes its own table."""
    path = tmp_path / "shared.sqlite3"
    settings_dict = dict(connections["default"].settings_dict, NAME=str(path))
    settings_dict["OPTIONS"] = {**settings_dict["OPTIONS"], "timeout": 0.2}  # fail fast instead of waiting 20 s
    connection = DatabaseWrapper(settings_dict, alias="shared")
    connections["shared"] = connection
    try:
        with django_db_blocker.unblock():
            yield connection, path
    finally:
        connection.close()
        del connections["shared"]


def test_a_transaction_takes_the_write_lock_as_it_begins(shared_file):
    """The alerts worker's update_or_create began as a read. Upgraded to a write while
    another process committed, SQLite answered "database is locked" at once, without
    waiting (that wait could deadlock), and the worker died. A transaction that takes the
    write lock when it begins waits for it instead, or fails there, before reading."""
    connection, path = shared_file
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE alert (window_start INTEGER PRIMARY KEY, volume INTEGER)")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(OperationalError, match="locked"), transaction.atomic(using="shared"):
            pass
        other.execute("COMMIT")
        with transaction.atomic(using="shared"), connection.cursor() as cursor:
            cursor.execute("INSERT INTO alert VALUES (1, 100)")
        assert other.execute("SELECT volume FROM alert").fetchall() == [(100,)]
    finally:
        other.close()


def test_a_read_does_not_wait_for_a_write_being_committed(shared_file):
    """Write-ahead logging: the web's reads (a symbol's existence for every API request)
    go on while a supervisor writes its workers' status."""
    connection, path = shared_file
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE status (worker INTEGER PRIMARY KEY, lag INTEGER)")
        cursor.execute("INSERT INTO status VALUES (0, 5)")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")  # in the rollback journal's mode, this shuts readers out
        other.execute("UPDATE status SET lag = 7")
        with connection.cursor() as cursor:
            cursor.execute("SELECT lag FROM status")
            assert cursor.fetchall() == [(5,)]  # the last committed value, at once
        other.execute("COMMIT")
    finally:
        other.close()
