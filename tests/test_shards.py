"""Each Kafka partition's rows go to exactly one shard, and a failed replica's retry to the
next replica of the same shard: two embedded endpoints stand in for two shards."""

from __future__ import annotations

import functools
import operator
import re

import clickhouse_connect
import pytest
from django.core.management import CommandError, call_command

from clickhouse import shards
from clickhouse.connection import client_settings
from clickhouse.migrate import Migrator
from harness.pool import database_url
from harness.tally import Tally
from tests.conftest import BUNDLED_SYMBOLS, EndpointProcess, free_port

SYMBOLS = BUNDLED_SYMBOLS[:300]


def test_the_shard_spec_is_parsed_in_remote_servers_order():
    assert shards.parse("a:9000,b:9000; c:9000 ,d:9000") == [["a:9000", "b:9000"], ["c:9000", "d:9000"]]
    assert shards.parse("") == []
    with pytest.raises(ValueError):
        shards.parse(" ; , ")


def test_a_partition_maps_to_the_shard_distributed_would_pick():
    # Distributed with weights 1 sends sharding key k to shard k % shards (remote_servers order).
    router = shards.Shards([["a"], ["b"]], connect=lambda host: host)  # type: ignore[arg-type, return-value]
    assert [router.shard(p) for p in range(6)] == [0, 1, 0, 1, 0, 1]
    assert [router.client(p) for p in range(3)] == ["a", "b", "a"]


def test_a_failed_request_moves_its_shard_to_the_next_replica_only():
    router = shards.Shards([["a0", "a1"], ["b0"]], connect=lambda host: host)  # type: ignore[arg-type, return-value]
    router.failed(0)
    assert (router.client(0), router.client(2), router.client(1)) == ("a1", "a1", "b0")
    router.failed(0)
    assert router.client(0) == "a0"


@pytest.mark.services
@pytest.mark.slow
def test_each_partition_lands_on_one_shard_and_survives_a_dead_replica(pipeline, tmp_path):
    endpoints = [EndpointProcess(tmp_path / f"shard{n}") for n in range(2)]
    for process in endpoints:
        process.start()
    try:
        shard_clients = []
        for process in endpoints:
            Migrator(database_url(process.url, "default"), pipeline.database).apply()
            shard_clients.append(clickhouse_connect.get_client(
                **client_settings(database_url(process.url, pipeline.database))))
        dead = f"127.0.0.1:{free_port()}"  # shard 0's first replica: nothing listens there
        pipeline.extra_environment["CLICKHOUSE_SHARDS"] = \
            f"{dead},127.0.0.1:{endpoints[0].port};127.0.0.1:{endpoints[1].port}"
        pipeline.produce(6_000, SYMBOLS, seed=41)
        log = tmp_path / "runworkers.log"
        pool = pipeline.start_pool(2, log=log)
        pipeline.wait_committed(6_000)
        assert pipeline.stop(pool) == 0
        # Shard 0 (partitions 0 and 2) was tried on the dead replica first, then on the next one.
        dead_port = dead.split(":")[1]
        assert re.search(rf"insert of {pipeline.topic}/[02] offsets \d+-\d+ failed .*port={dead_port}", log.read_text())

        placed = [dict(client.query("SELECT kafka_partition, count() FROM trades GROUP BY ALL").result_rows)
                  for client in shard_clients]
        assert set(placed[0]) == {0, 2} and set(placed[1]) == {1}
        assert pipeline.count() == 0  # nothing went to CLICKHOUSE_URL's own tables but the ledger
        stored = [Tally.stored(client) for client in shard_clients]
        assert sum(t.count for t in stored) == 6_000 == sum(t.distinct_ids or 0 for t in stored)
        assert functools.reduce(operator.xor, (t.id_digest for t in stored)) == pipeline.tally.id_digest
        for client in shard_clients:  # each shard's views saw its own partitions' trades
            assert client.command("SELECT sum(trades) FROM symbol_totals") == client.command("SELECT count() FROM trades")
    finally:
        for process in endpoints:
            process.stop()


def test_a_cluster_without_shards_stops_runworkers_before_it_starts(settings):
    settings.CLICKHOUSE_CLUSTER, settings.CLICKHOUSE_SHARDS = "prod", ""
    with pytest.raises(CommandError, match="CLICKHOUSE_SHARDS must name"):
        call_command("runworkers", "--processes", "1")
