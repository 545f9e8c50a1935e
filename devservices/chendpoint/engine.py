"""The ClickHouse engine (chdb-core) behind the embedded endpoint.

A process hosts exactly one chdb engine, bound to one data directory. Any number
of chdb connections share that engine and run in parallel (chdb releases the GIL),
but one connection runs one query or streaming insert at a time. So every HTTP
request checks a connection out of a pool, uses it alone, and gives it back:
no global lock, no two requests on one connection.

chdb connections keep session state (current database, SET settings). HTTP
requests are stateless, so each pooled connection remembers what it has applied
and a request's database and settings are brought in with at most one `USE` and
one `SET` statement, only when they differ from the previous request's.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chdb import _chdb

from devservices.chendpoint.protocol import from_infile, quote_literal
from devservices.chendpoint.recovery import forget_uncommitted_blocks

logger = logging.getLogger(__name__)

_ERROR_CODE = re.compile(r"Code: (\d+)\.")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Settings a session cannot take back, with the engine's defaults: once a request has
# tightened one, `SET readonly = DEFAULT` is refused (READONLY, and QUERY_IS_PROHIBITED for
# allow_ddl). clickhouse-server applies a request's settings to that request alone, so a
# connection whose request changed one is closed after it, not handed to the next request.
ONE_WAY_SETTINGS = {"readonly": "0", "allow_ddl": "1"}

# Error codes the endpoint raises itself, with ClickHouse's numbers and names.
SYNTAX_ERROR = 62
UNKNOWN_TYPE_OF_QUERY = 78
UNKNOWN_SETTING = 115
READONLY = 164
QUOTA_EXCEEDED = 201
TOO_MANY_SIMULTANEOUS_QUERIES = 202
INTO_OUTFILE_NOT_ALLOWED = 358
ACCESS_DENIED = 497
AUTHENTICATION_FAILED = 516
UNKNOWN_EXCEPTION = 1002


class EngineError(Exception):
    """A ClickHouse error: its numeric code and ClickHouse's own message."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @classmethod
    def from_chdb(cls, exc: BaseException) -> EngineError:
        text = str(exc)
        # chdb prefixes its own wording ("Streaming insert append failed: ...");
        # ClickHouse's message starts at the first "Code: N." and carries the code.
        match = _ERROR_CODE.search(text)
        if match is None:
            return cls(UNKNOWN_EXCEPTION, text)
        return cls(int(match.group(1)), text[match.start():])


@dataclass
class QueryStats:
    """What ClickHouse reports in the X-ClickHouse-Summary header."""

    read_rows: int = 0
    read_bytes: int = 0
    written_rows: int = 0
    written_bytes: int = 0
    result_rows: int = 0
    result_bytes: int = 0
    elapsed_ns: int = 0

    def as_header(self) -> dict[str, str]:
        # ClickHouse sends every figure as a string.
        return {name: str(value) for name, value in vars(self).items()}


def quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


@dataclass
class PooledConnection:
    """A chdb connection plus the session state the previous request left on it.

    `profile` is the user's settings profile, applied when the connection was opened
    (readonly last, so a read-only profile cannot be changed afterwards); a request's
    own settings are set on top and put back to the profile's value after it."""

    raw: Any  # a chdb connection (chdb ships no type information)
    spool_dir: Path
    profile: dict[str, str] = field(default_factory=dict)
    database: str = "default"
    settings: dict[str, str] = field(default_factory=dict)

    def prepare(self, database: str, settings: dict[str, str]) -> None:
        """Make this connection's database and settings exactly the request's."""
        for name in settings:
            if not _IDENTIFIER.match(name):
                raise EngineError(
                    UNKNOWN_SETTING,
                    f"Code: {UNKNOWN_SETTING}. DB::Exception: Unknown setting {name!r}. (UNKNOWN_SETTING)",
                )
        if database != self.database:
            self._run(f"USE {quote_identifier(database)}")
            self.database = database
        assignments = [
            f"{name} = {quote_literal(self.profile[name])}" if name in self.profile else f"{name} = DEFAULT"
            for name in self.settings if name not in settings
        ] + [
            f"{name} = {quote_literal(value)}"
            for name, value in settings.items()
            if self.settings.get(name) != value
        ]
        if assignments:
            # If SET fails midway the session state is unknown: the caller discards us.
            self._run("SET " + ", ".join(assignments))
            self.settings = dict(settings)

    @property
    def reusable(self) -> bool:
        """Whether the next request's settings can be brought in: no setting of
        ONE_WAY_SETTINGS is changed from the profile's."""
        return all(self.settings[name] == self.profile.get(name, default)
                   for name, default in ONE_WAY_SETTINGS.items() if name in self.settings)

    def _run(self, sql: str) -> None:
        try:
            self.raw.query(sql, "TabSeparated")
        except RuntimeError as exc:
            raise EngineError.from_chdb(exc) from None

    def query(self, sql: str, fmt: str, params: dict[str, str]) -> tuple[bytes, QueryStats]:
        try:
            result = self.raw.query(sql, fmt, params=params)
        except RuntimeError as exc:
            raise EngineError.from_chdb(exc) from None
        body = result.bytes()
        # chdb's rows_read() counts the rows of the result; storage_rows_read() what was read.
        stats = QueryStats(
            read_rows=result.storage_rows_read(),
            read_bytes=result.storage_bytes_read(),
            written_rows=result.rows_written(),
            written_bytes=result.bytes_written(),
            result_rows=result.rows_read(),
            result_bytes=len(body),
            elapsed_ns=int(result.elapsed() * 1e9),
        )
        return body, stats

    def insert(self, statement: str, fmt: str, chunks: Iterable[bytes]) -> QueryStats:
        """Insert `chunks` of `fmt`-encoded rows into `statement` (an INSERT without FORMAT).

        The rows are spooled to a file and inserted by one statement, `... FROM INFILE`.
        chdb's streaming insert (send_insert / insert_append / insert_done) cannot be
        trusted: insert_done reports success, rows counted, for errors the engine raises
        as the insert finishes (a constraint on the table or on a view's target, a view
        that throws), while the same insert run as one statement raises them.
        """
        path = self._spool(chunks)
        try:
            stats = self.query(from_infile(statement, str(path), fmt), "TabSeparated", {})[1]
        finally:
            path.unlink(missing_ok=True)
        stats.result_rows = stats.result_bytes = 0  # an insert returns no result
        return stats

    def _spool(self, chunks: Iterable[bytes]) -> Path:
        descriptor, name = tempfile.mkstemp(prefix="insert-", suffix=".rows", dir=self.spool_dir)
        path = Path(name)
        try:
            with os.fdopen(descriptor, "wb") as spool:
                for chunk in chunks:
                    spool.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    def close(self) -> None:
        try:
            self.raw.close()
        except RuntimeError:
            logger.debug("closing a chdb connection failed", exc_info=True)


def default_spool_dir(data_dir: Path) -> Path:
    """Where insert bodies wait for their statement: in memory (tmpfs) where the
    machine has one, so spooling costs a copy, not a disk write."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        # One endpoint per data directory (chdb locks it), so one spool per data directory:
        # what a killed endpoint left there is removed at the next start.
        return shm / f"chendpoint-{hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:12]}"
    return data_dir / "spool"


ENGINE_CONFIG = Path(__file__).with_name("engine.xml")


def engine_address(data_dir: Path, config: Path = ENGINE_CONFIG) -> str:
    """What chdb connects to: `data_dir`, with `config` as the engine's configuration file
    (ENGINE_CONFIG: MergeTree defaults that only this development engine needs). Every
    connection names it, as whichever is opened first starts the engine."""
    if "?" in str(data_dir):
        raise ValueError(f"chdb would read what follows '?' in {data_dir} as its parameters")
    return f"{data_dir}?config-file={config}"


class Engine:
    """One chdb engine on `data_dir`, with a connection pool per user profile."""

    def __init__(self, data_dir: Path, spool_dir: Path | None = None):
        self.data_dir = Path(data_dir)
        self.address = engine_address(self.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.spool_dir = Path(spool_dir) if spool_dir else default_spool_dir(self.data_dir)
        shutil.rmtree(self.spool_dir, ignore_errors=True)
        self.spool_dir.mkdir(parents=True)
        self._pools: dict[tuple, queue.SimpleQueue[PooledConnection]] = {}
        self._pools_lock = threading.Lock()
        self._closed = False
        forget_uncommitted_blocks(self.data_dir)  # before the engine reads the logs
        # Holding one connection keeps the engine alive while the pools are empty.
        self._anchor = self._connect({})
        self.timezone = self._scalar("SELECT timezone()")
        self.version = self._scalar("SELECT version()")

    def _scalar(self, sql: str) -> str:
        return self._anchor.query(sql, "TabSeparated", {})[0].decode().strip()

    def _connect(self, profile: dict[str, str]) -> PooledConnection:
        connection = PooledConnection(_chdb.connect(self.address), self.spool_dir,  # type: ignore[attr-defined]
                                      dict(profile))
        others = {name: value for name, value in profile.items() if name != "readonly"}
        if others:
            connection._run("SET " + ", ".join(f"{name} = {quote_literal(value)}" for name, value in others.items()))
        if profile.get("readonly", "0") != "0":
            connection._run(f"SET readonly = {int(profile['readonly'])}")
        return connection

    def checkout(self, profile: dict[str, str]) -> PooledConnection:
        try:
            return self._pool(profile).get_nowait()
        except queue.Empty:
            return self._connect(profile)

    def checkin(self, connection: PooledConnection, healthy: bool = True) -> None:
        if healthy and connection.reusable and not self._closed:
            self._pool(connection.profile).put(connection)
        else:
            connection.close()

    def _pool(self, profile: dict[str, str]) -> queue.SimpleQueue[PooledConnection]:
        key = tuple(sorted(profile.items()))
        with self._pools_lock:
            return self._pools.setdefault(key, queue.SimpleQueue())

    def close(self) -> None:
        self._closed = True
        for pool in self._pools.values():
            while True:
                try:
                    pool.get_nowait().close()
                except queue.Empty:
                    break
        self._anchor.close()
        shutil.rmtree(self.spool_dir, ignore_errors=True)
