"""Which ClickHouse server takes a Kafka partition's rows.

Each partition's rows live on exactly one shard: shard = partition modulo the number
of shards, in the order of the cluster's remote_servers, which is also how the
Distributed tables (sharding key `kafka_partition`, weights 1) would route them.
Workers write straight to the shard's own tables and read through the Distributed
ones. A partition's rows, its totals and its watermark then sit on one shard
(workers/ingest.py says why that keeps the exactly-once argument), and a retry goes
to a replica of the same shard, which deduplicates it.

Within a shard a worker keeps to one replica until a request to it fails; the next
attempt, the identical insert, goes to the next replica.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clickhouse_connect.driver.client import Client

Connect = Callable[[str], Client]  # host:port -> a writer client on it


def parse(spec: str) -> list[list[str]]:
    """"a:8123,b:8123;c:8123,d:8123" -> [["a:8123", "b:8123"], ["c:8123", "d:8123"]]."""
    shards = [[host.strip() for host in shard.split(",") if host.strip()] for shard in spec.split(";")]
    shards = [shard for shard in shards if shard]
    if spec.strip() and not shards:
        raise ValueError(f"CLICKHOUSE_SHARDS names no host: {spec!r}")
    return shards


class Shards:
    def __init__(self, hosts: list[list[str]], connect: Connect, single: Client | None = None):
        """`hosts` per shard; with none, every partition goes to `single`."""
        if not hosts and single is None:
            raise ValueError("no shard to write to")
        self.hosts = hosts
        self._connect = connect
        self._single = single
        self._replica = [0] * len(hosts)  # the replica each shard is written through
        self._clients: dict[str, Client] = {}

    def __len__(self) -> int:
        return max(1, len(self.hosts))

    def shard(self, partition: int) -> int:
        return partition % len(self)

    def client(self, partition: int) -> Client:
        if not self.hosts:
            assert self._single is not None
            return self._single
        shard = self.shard(partition)
        host = self.hosts[shard][self._replica[shard]]
        if host not in self._clients:
            self._clients[host] = self._connect(host)
        return self._clients[host]

    def failed(self, partition: int) -> None:
        """A request for `partition` failed: its next attempt goes to the next replica."""
        if self.hosts:
            shard = self.shard(partition)
            self._replica[shard] = (self._replica[shard] + 1) % len(self.hosts[shard])

    def write(self, partition: int, insert: Callable[[Client], Any]) -> None:
        """`insert(client)` on a replica of the partition's shard; on failure the next
        call goes to the shard's next replica."""
        try:
            insert(self.client(partition))
        except Exception:
            self.failed(partition)
            raise
