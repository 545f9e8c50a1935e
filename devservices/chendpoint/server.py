"""Embedded ClickHouse endpoint: chdb-core behind ClickHouse's HTTP interface.

No ClickHouse server installs from the package registries development and CI
machines reach, but the engine itself ships on PyPI as chdb-core. This process
hosts it and speaks enough of ClickHouse's HTTP protocol that the project's
clickhouse-connect code runs unchanged against it here and against
clickhouse-server in production.

Run: `python -m devservices.chendpoint --port 8123 --data-dir DIR`. Users come from
the project's users.xml (devservices/chendpoint/access.py: profiles, grants, quotas,
passwords from the environment variables it names), CHENDPOINT_USERS (full access)
and CHENDPOINT_READONLY_USERS, each a comma-separated list of `name:password`.
A development and CI component only.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import signal
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from devservices.chendpoint.access import PROJECT_USERS_XML, User, Users, check_select_grants, load_users
from devservices.chendpoint.engine import (
    AUTHENTICATION_FAILED,
    INTO_OUTFILE_NOT_ALLOWED,
    SYNTAX_ERROR,
    UNKNOWN_TYPE_OF_QUERY,
    Engine,
    EngineError,
    PooledConnection,
    QueryStats,
)
from devservices.chendpoint.protocol import (
    BadRequest,
    QueryRequest,
    apply_form,
    credentials,
    decompress,
    first_keyword,
    has_keyword,
    is_multi_statement,
    output_format,
    parse_url_parameters,
    read_body,
    split_inline_insert,
    split_insert,
    without_format,
)

logger = logging.getLogger("chendpoint")

# A query sent in the body (not a streamed INSERT) is read whole; this bounds it.
MAX_BUFFERED_BODY = 256 << 20

_CONTENT_TYPES = {
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8",
    "JSON": "application/json; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
    "JSONCompact": "application/json; charset=UTF-8",
}


class EndpointServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], engine: Engine, users: Users):
        super().__init__(address, RequestHandler)
        self.engine = engine
        self.users = users
        self.parses = ParseCache()
        self._active = 0
        self._idle = threading.Condition()

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Around one request's engine work: shutdown waits until none is running,
        so a stop never cuts an insert off halfway."""
        with self._idle:
            self._active += 1
        try:
            yield
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chendpoint"
    # Responses go out in one write; Nagle's algorithm would only delay them.
    disable_nagle_algorithm = True
    server: EndpointServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path in ("/ping", "/replicas_status") or (url.path == "/" and not url.query):
            self._respond(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
            return
        # Like ClickHouse, a GET request may only read.
        self._handle_query(url.query, force_readonly=True)

    def do_POST(self) -> None:
        self._handle_query(urlsplit(self.path).query, force_readonly=False)

    def _handle_query(self, query_string: str, force_readonly: bool) -> None:
        started = time.perf_counter()
        request = QueryRequest()
        body = None
        try:
            body = self._body()
            who = credentials(self.headers, query_string)
            user = self.server.users.authenticate(who.user, who.password)
            request = parse_url_parameters(query_string)
            result, stats, fmt = self._execute(request, body, user, force_readonly)
        except BadRequest as exc:
            self.close_connection = True
            self._respond(400, f"{exc}\n".encode(), {"Content-Type": "text/plain; charset=UTF-8"})
            return
        except EngineError as exc:
            logger.info("query failed with code %s: %s", exc.code, exc.message.splitlines()[0][:300])
            self._drain(body)
            self._send_error(exc, request)
            return
        headers = {
            "Content-Type": _CONTENT_TYPES.get(fmt, "application/octet-stream"),
            "X-ClickHouse-Format": fmt,
            "X-ClickHouse-Summary": json.dumps(stats.as_header()),
            **self._common_headers(request),
        }
        self._respond(200, result, headers)
        logger.debug("%s rows in %.1f ms", stats.result_rows or stats.written_rows,
                     (time.perf_counter() - started) * 1000)

    def _body(self) -> Iterator[bytes] | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower() or int(
            self.headers.get("Content-Length") or 0
        ):
            # Until the body is read to its end the connection cannot be reused.
            self.close_connection = True
            return decompress(read_body(self.rfile, self.headers), self.headers.get("Content-Encoding"))
        return None

    def _drain(self, body: Iterator[bytes] | None) -> None:
        """Read what is left of a failed request's body, so the client, still
        sending, reads the error instead of a reset connection."""
        if body is None or not self.close_connection:
            return
        try:
            drained = 0
            for chunk in body:
                drained += len(chunk)
                if drained > MAX_BUFFERED_BODY:
                    return
            self.close_connection = False
        except (BadRequest, OSError, RuntimeError):
            pass  # an unreadable body: closing the connection is all that is left

    def _execute(self, request: QueryRequest, body: Iterator[bytes] | None, user: User,
                 force_readonly: bool) -> tuple[bytes, QueryStats, str]:
        engine, users = self.server.engine, self.server.users
        profile = user.engine_settings
        if force_readonly and user.readonly == 0:
            profile = {**profile, "readonly": "2"}  # a GET request may read and set its own limits
        users.begin(user, request.quota_key)
        stats = QueryStats()
        try:
            connection = engine.checkout(profile)
            healthy = False
            with self.server.running():
                try:
                    connection.prepare(request.database or "default", request.settings)
                    result, stats, fmt, keeps_session = self._run(connection, request, body, user)
                    healthy = keeps_session
                    return result, stats, fmt
                finally:
                    # A connection whose query failed is not reused: chdb keeps the output a failed
                    # query had begun and prefixes it to the next result on that connection
                    # (tests/test_clickhouse_endpoint.py, test_a_query_failing_mid_output...).
                    engine.checkin(connection, healthy)
        finally:
            users.end(user, request.quota_key, stats.result_rows, stats.read_rows)

    def _run(self, connection: PooledConnection, request: QueryRequest, body: Iterator[bytes] | None,
             user: User) -> tuple[bytes, QueryStats, str, bool]:
        """Run the request's statement: (result, stats, format, whether the connection's
        session is as prepare() left it, so that it can serve another request)."""
        content_type = self.headers.get("Content-Type", "")
        if body is not None and content_type.startswith("multipart/form-data"):
            apply_form(request, _read_at_most(body, MAX_BUFFERED_BODY), content_type)
            self.close_connection = False
            body = None
        query = request.query
        _refuse_local_files(query)
        if body is not None:
            insert = split_insert(query) if query else None
            if insert:
                stats = connection.insert(*insert, body)
                self.close_connection = False  # the body was read to its end
                return b"", stats, insert[1], True
            text = _read_at_most(body, MAX_BUFFERED_BODY)
            self.close_connection = False
            if query:
                text = query.encode() + b"\n" + text
            inline = split_inline_insert(text)
            if inline:
                statement, fmt, data = inline
                _refuse_local_files(statement)
                return b"", connection.insert(statement, fmt, [data]), fmt, True
            query = text.decode("utf-8", "replace")
            _refuse_local_files(query)
        if not query.strip():
            raise BadRequest("Empty query")
        if is_multi_statement(query):
            raise EngineError(SYNTAX_ERROR, f"Code: {SYNTAX_ERROR}. DB::Exception: Syntax error (Multi-statements are "
                                            "not allowed): failed at end of query. (SYNTAX_ERROR)")
        if user.restricted:
            _check_grants(connection, user, query, request, self.server.parses)
        result, stats = connection.query(query, request.default_format, request.params)
        # USE and SET change the session: over HTTP they last one request, as on the server.
        keeps_session = first_keyword(query) not in ("USE", "SET")
        return result, stats, output_format(query, request.default_format), keeps_session

    def _common_headers(self, request: QueryRequest) -> dict[str, str]:
        return {
            "X-ClickHouse-Query-Id": request.query_id or str(uuid.uuid4()),
            "X-ClickHouse-Timezone": self.server.engine.timezone,
            "X-ClickHouse-Server-Display-Name": "chendpoint",
        }

    def _send_error(self, exc: EngineError, request: QueryRequest) -> None:
        # ClickHouse answers a failed login with 403 and everything else it
        # reports here with 500; clients read the code from the header.
        status = 403 if exc.code == AUTHENTICATION_FAILED else 500
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "X-ClickHouse-Exception-Code": str(exc.code),
            **self._common_headers(request),
        }
        self._respond(status, (exc.message.rstrip() + "\n").encode(), headers)

    def _respond(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        lines = [f"{self.protocol_version} {status} {self.responses.get(status, ('',))[0]}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.wfile.write(body)
        self.log_request(status, len(body))

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


def _check_grants(connection: PooledConnection, user: User, query: str, request: QueryRequest,
                  parses: ParseCache) -> None:
    """Refuse what the user's grants do not cover, from the engine's own parse of the query."""
    ast = parses.parse(connection, query, request.params)
    check_select_grants(user, ast, connection.database, functools.cache(lambda: _databases(connection)))


def _databases(connection: PooledConnection) -> set[str]:
    return set(connection.query("SHOW DATABASES", "TabSeparatedRaw", {})[0].decode().split())


class ParseCache:
    """The engine's parse (`EXPLAIN AST`) of the queries grant checks have read, the most
    recent MAX_ENTRIES. A parse depends only on the query's text, its parameters and the
    session's settings (`dialect` changes it), so it is kept under those; the grants are
    checked against it afresh every time. The web's reads repeat the same few statements,
    and the parse cost every one of them a second query.

    A parameter's value stands in the parse as a literal, and no grant turns on a literal:
    the parse of one drill-down serves every symbol's. Only an `Identifier` parameter names
    what is read (`FROM {table:Identifier}`), so a query that may hold one is kept under
    its values too."""

    MAX_ENTRIES = 1024
    MAX_ENTRY_CHARS = 64 << 10  # a huge query is parsed every time rather than held

    def __init__(self) -> None:
        self._parses: OrderedDict[tuple, str] = OrderedDict()
        self._lock = threading.Lock()

    def parse(self, connection: PooledConnection, query: str, params: dict[str, str]) -> str:
        values = sorted(params.items()) if "identifier" in query.lower() else sorted(params)
        key = (query, tuple(values), tuple(sorted(connection.profile.items())),
               tuple(sorted(connection.settings.items())))
        with self._lock:
            ast = self._parses.get(key)
            if ast is not None:
                self._parses.move_to_end(key)
                return ast
        ast = connection.query(f"EXPLAIN AST {without_format(query)}", "TabSeparatedRaw", params)[0].decode()
        if len(query) + len(ast) <= self.MAX_ENTRY_CHARS:
            with self._lock:
                self._parses[key] = ast
                if len(self._parses) > self.MAX_ENTRIES:
                    self._parses.popitem(last=False)
        return ast


def _refuse_local_files(query: str) -> None:
    """clickhouse-server reads and writes no file of its host for a query sent over HTTP:
    `FROM INFILE` and `INTO OUTFILE` belong to clickhouse-client. chdb is a local engine
    and would run both, so the endpoint refuses them with the server's codes and words."""
    if has_keyword(query, "INFILE"):
        raise EngineError(UNKNOWN_TYPE_OF_QUERY, f"Code: {UNKNOWN_TYPE_OF_QUERY}. DB::Exception: Query has infile "
                                                 "and was send directly to server. (UNKNOWN_TYPE_OF_QUERY)")
    if has_keyword(query, "OUTFILE"):
        raise EngineError(INTO_OUTFILE_NOT_ALLOWED, f"Code: {INTO_OUTFILE_NOT_ALLOWED}. DB::Exception: INTO OUTFILE "
                                                    "is not allowed. (INTO_OUTFILE_NOT_ALLOWED)")


def _read_at_most(chunks: Iterable[bytes], limit: int) -> bytes:
    parts, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BadRequest(f"Query body larger than {limit} bytes; stream data as INSERT ... FORMAT")
        parts.append(chunk)
    return b"".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--spool-dir", type=Path, default=None,
                        help="where insert bodies are spooled (default: tmpfs, else DATA_DIR/spool)")
    parser.add_argument("--users-xml", type=Path, default=PROJECT_USERS_XML,
                        help="clickhouse-server users file whose users, profiles, grants and quotas to enforce")
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    engine = Engine(args.data_dir, args.spool_dir)
    server = EndpointServer((args.host, args.port), engine, Users(load_users(args.users_xml)))

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever() to return: call it from another thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logger.info("ClickHouse %s (chdb) on http://%s:%d, data in %s", engine.version, args.host, args.port,
                args.data_dir)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        if not server.wait_idle(30):
            logger.warning("requests still running after 30 s; closing the engine anyway")
        engine.close()
        logger.info("stopped")
