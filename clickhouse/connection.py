"""ClickHouse clients built from the project's settings.

Workers and migrations write through CLICKHOUSE_URL; the web app reads through
CLICKHOUSE_READONLY_URL, a user that cannot write. The same code talks to the
embedded development endpoint and to clickhouse-server.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from django.conf import settings

_TRUE = {"1", "true", "yes", "on"}


def client_settings(url: str, database: str | None = None) -> dict:
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
    return client_settings(settings.CLICKHOUSE_URL)["database"]


def writer(**overrides) -> Client:
    """A read-write client (workers, migrations)."""
    return clickhouse_connect.get_client(**{**client_settings(settings.CLICKHOUSE_URL), **overrides})


def reader(**overrides) -> Client:
    """A client of the read-only user (the web app)."""
    return clickhouse_connect.get_client(**{**client_settings(settings.CLICKHOUSE_READONLY_URL), **overrides})
