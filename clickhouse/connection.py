"""ClickHouse clients built from the project's settings.

Workers and migrations write through CLICKHOUSE_URL; the web app reads through
CLICKHOUSE_READONLY_URL, a user that cannot write; the SQL panel runs what a visitor
types as CLICKHOUSE_PANEL_URL's user, whose limits live in its ClickHouse profile. The same code talks to the
embedded development endpoint and to clickhouse-server.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import clickhouse_connect
import urllib3
from clickhouse_connect.driver.client import Client
from django.conf import settings

from clickhouse import shards
from clickhouse.shards import Shards

_TRUE = {"1", "true", "yes", "on"}


def client_settings(url: str, database: str | None = None) -> dict[str, Any]:
    """clickhouse_connect.get_client() arguments for a URL such as
    http://user:password@host:8123/database?compress=lz4&connect_timeout=5."""
    parsed = urlsplit(url)
    options = dict(parse_qsl(parsed.query))
    secure = parsed.scheme == "https"
    compress = options.pop("compress", "false")
    return {
        "host": parsed.hostname or "127.0.0.1",
        "port": parsed.port or (8443 if secure else 8123),
        "username": unquote(parsed.username or "default"),
        "password": unquote(parsed.password or ""),
        "database": database or parsed.path.strip("/") or "default",
        "secure": secure,
        # Loopback to the embedded endpoint gains nothing from compression.
        "compress": compress if compress not in _TRUE | {"false", "0", "no", "off"} else compress in _TRUE,
        # Timestamps come back as aware UTC datetimes, never naive ones.
        "tz_mode": "aware",
        "connect_timeout": float(options.pop("connect_timeout", 5)),
        "send_receive_timeout": float(options.pop("send_receive_timeout", 60)),
        # Anything else in the query string is a ClickHouse setting for every query.
        "settings": options,
    }


def database_name() -> str:
    return str(client_settings(settings.CLICKHOUSE_URL)["database"])


def writer(**overrides: Any) -> Client:
    """A read-write client (workers, migrations)."""
    return clickhouse_connect.get_client(**{**client_settings(settings.CLICKHOUSE_URL), **overrides})


def shard_hosts() -> list[list[str]]:
    """CLICKHOUSE_SHARDS parsed; a ValueError when it cannot serve CLICKHOUSE_CLUSTER."""
    hosts = shards.parse(settings.CLICKHOUSE_SHARDS)
    if settings.CLICKHOUSE_CLUSTER and not hosts:
        raise ValueError("CLICKHOUSE_CLUSTER is set: CLICKHOUSE_SHARDS must name its shards' replicas")
    return hosts


def shard_writers(single: Client, **overrides: Any) -> Shards:
    """Where workers write each partition (clickhouse/shards.py): CLICKHOUSE_SHARDS's
    replicas as CLICKHOUSE_URL's user, or `single` when there is one server."""
    hosts = shard_hosts()
    base = {**client_settings(settings.CLICKHOUSE_URL), **overrides}

    def connect(host: str) -> Client:
        name, _, port = host.rpartition(":")
        return clickhouse_connect.get_client(**{**base, "host": name or host, "port": int(port or base["port"])})

    return Shards(hosts, connect, single=single)


def reader(**overrides: Any) -> Client:
    """A client of the read-only user (the web app)."""
    return clickhouse_connect.get_client(**{**client_settings(settings.CLICKHOUSE_READONLY_URL), **overrides})


class PanelError(Exception):
    """ClickHouse refused a panel query; `code` is its error code (None: no answer)."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


@contextlib.contextmanager
def panel_query(sql: str, fmt: str, timeout: float, quota_key: str) -> Iterator[Iterator[bytes]]:
    """Run `sql` as the SQL panel's user and stream the result's bytes; `quota_key`
    names the visitor, whose queries the user's keyed quota counts together.

    Plain ClickHouse HTTP rather than clickhouse-connect: a client's start-up query
    reads all of system.settings (about 1,900 rows), which the panel user's
    1,000-row limit refuses, and the panel needs nothing but bytes in and out.
    """
    options = client_settings(settings.CLICKHOUSE_PANEL_URL)
    scheme = "https" if options["secure"] else "http"
    query = urlencode({"database": options["database"], "default_format": fmt, "quota_key": quota_key,
                       # an error after the first rows is then an HTTP error, not text inside the rows
                       "wait_end_of_query": "1"})
    try:
        response = _http.request(
            "POST", f"{scheme}://{options['host']}:{options['port']}/?{query}", body=sql.encode(),
            headers={"X-ClickHouse-User": options["username"], "X-ClickHouse-Key": options["password"],
                     "Content-Type": "text/plain; charset=UTF-8"},
            preload_content=False, retries=False,
            timeout=urllib3.Timeout(connect=options["connect_timeout"], read=timeout),
        )
    except urllib3.exceptions.HTTPError as exc:
        raise PanelError(f"ClickHouse did not answer: {exc}") from None
    try:
        if response.status != 200:
            code = response.headers.get("X-ClickHouse-Exception-Code")
            raise PanelError(response.read(65536).decode("utf-8", "replace").strip(),
                             int(code) if code and code.isdigit() else None)
        yield response.stream(1 << 16)
    except urllib3.exceptions.HTTPError as exc:
        raise PanelError(f"ClickHouse stopped answering: {exc}") from None
    finally:
        response.release_conn()


_http = urllib3.PoolManager(maxsize=4)
