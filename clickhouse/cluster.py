"""The same migrations for a ClickHouse cluster (CLICKHOUSE_CLUSTER set).

Each single-node statement becomes its cluster form, ON CLUSTER:

  CREATE TABLE t (...) ENGINE = XMergeTree ... SETTINGS non_replicated_...
      → t_local, ENGINE = ReplicatedXMergeTree('/clickhouse/tables/{shard}/{database}/t_local', '{replica}')
        (the non-replicated deduplication window becomes the replicated one, the same
        number of blocks, kept for 7 days rather than the default hour, so a pending
        range replayed after a long outage is still recognised)
      → t, ENGINE = Distributed(cluster, database, t_local, <sharding key>): the name
        every query uses. The key is `kafka_partition` where the table has one, so a
        row lands where a worker writes it (partition modulo the shard count,
        clickhouse/shards.py); else the hash of the sorting key's first column
        (volume_alerts: each window on one shard, so its replacements meet).
  CREATE MATERIALIZED VIEW v TO t AS SELECT … FROM s
      → on every shard, from s_local into t_local: a partition's views run on the
        shard that holds its rows
  CREATE TABLE t (...) ENGINE = EmbeddedRocksDB PRIMARY KEY k   (the ingest ledger)
      → ENGINE = KeeperMap('/trademonitor/{database}/t') PRIMARY KEY k, ON CLUSTER:
        one copy in Keeper that every node reads and writes consistently (the
        servers need <keeper_map_path_prefix>)

Only these statement forms (the ones the migrations use) are translated; any
other raises MigrationError, so a new kind of statement is translated on purpose.
"""

from __future__ import annotations

import re

PARTITION_KEY = "kafka_partition"

_CREATE_TABLE = re.compile(
    r"^CREATE TABLE IF NOT EXISTS (?P<name>\w+)\s*(?P<columns>\(.*\))\s*ENGINE\s*=\s*(?P<engine>\w*MergeTree)(?:\(\))?"
    r"(?P<rest>.*)$", re.S)
_CREATE_VIEW = re.compile(
    r"^CREATE MATERIALIZED VIEW IF NOT EXISTS (?P<name>\w+) TO (?P<target>\w+) AS(?P<select>.*\bFROM )(?P<source>\w+)"
    r"(?P<tail>.*)$", re.S)
_CREATE_KEY_VALUE = re.compile(
    r"^CREATE TABLE IF NOT EXISTS (?P<name>\w+)\s*(?P<columns>\(.*\))\s*ENGINE\s*=\s*EmbeddedRocksDB(?:\(\))?"
    r"\s*(?P<key>PRIMARY KEY \w+)$", re.S)
_ORDER_BY = re.compile(r"\bORDER BY\s*\(?\s*(\w+)")
_NON_REPLICATED_SETTING = re.compile(r"\bnon_replicated_deduplication_window\s*=\s*(\d+)")
REPLICATED_WINDOW_SECONDS = 7 * 24 * 3600


class UnsupportedStatement(ValueError):
    pass


def local(name: str) -> str:
    return f"{name}_local"


def translate(statement: str, cluster: str, database: str) -> list[str]:
    """The cluster statements for one single-node migration statement."""
    body = _strip_comments(statement)
    table = _CREATE_TABLE.match(body)
    if table:
        name, engine = table["name"], table["engine"]
        rest = _NON_REPLICATED_SETTING.sub(
            rf"replicated_deduplication_window = \1, replicated_deduplication_window_seconds = {REPLICATED_WINDOW_SECONDS}",
            table["rest"]).rstrip()
        path = f"'/clickhouse/tables/{{shard}}/{database}/{local(name)}', '{{replica}}'"
        return [
            f"CREATE TABLE IF NOT EXISTS {local(name)} ON CLUSTER {cluster} {table['columns']}\n"
            f"ENGINE = Replicated{engine}({path}){rest}",
            f"CREATE TABLE IF NOT EXISTS {name} ON CLUSTER {cluster} AS {local(name)}\n"
            f"ENGINE = Distributed({cluster}, {database}, {local(name)}, {sharding_key(table['columns'], rest)})",
        ]
    key_value = _CREATE_KEY_VALUE.match(body)
    if key_value:
        name = key_value["name"]
        return [
            f"CREATE TABLE IF NOT EXISTS {name} ON CLUSTER {cluster} {key_value['columns']}\n"
            f"ENGINE = KeeperMap('/trademonitor/{database}/{name}') {key_value['key']}"
        ]
    view = _CREATE_VIEW.match(body)
    if view:
        return [
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view['name']} ON CLUSTER {cluster} TO {local(view['target'])} "
            f"AS{view['select']}{local(view['source'])}{view['tail']}"
        ]
    raise UnsupportedStatement(f"no cluster translation for: {body[:80]}…")


def sharding_key(columns: str, rest: str) -> str:
    """`kafka_partition` if the table has it, else the hash of its first sorting column."""
    if re.search(rf"^\s*\(?\s*{PARTITION_KEY}\s", columns, re.M):
        return PARTITION_KEY
    order = _ORDER_BY.search(rest)
    if order is None:
        raise UnsupportedStatement(f"no sharding key for a table without ORDER BY: {columns[:60]}…")
    return f"cityHash64({order[1]})"


def _strip_comments(sql: str) -> str:
    lines = [line.split("--", 1)[0].rstrip() for line in sql.splitlines()]
    return "\n".join(line for line in lines if line.strip()).strip().rstrip(";")
