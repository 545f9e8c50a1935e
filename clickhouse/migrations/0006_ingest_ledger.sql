-- The insert-intent ledger (clickhouse/ledger.py): per consumer job, topic and Kafka
-- partition, the range of offsets of the last flush and whether its insert finished.
-- A worker records a range as pending before it inserts it and done after; a pending
-- range found on assignment is replayed exactly (workers/ingest.py says why).
--
-- One row per key, replaced on every write and read back at once: EmbeddedRocksDB is
-- a key-value store, so a read never sees two versions of a row, with no merges and
-- no FINAL (BENCHMARKS.md compares it with ReplacingMergeTree ... FINAL). On a
-- cluster the same table is a KeeperMap (clickhouse/cluster.py): one copy in Keeper
-- that every node reads and writes.
CREATE TABLE IF NOT EXISTS ingest_ledger
(
    key             String,                     -- job/topic/partition
    job             String,
    topic           String,
    kafka_partition UInt16,
    first_offset    UInt64,
    last_offset     UInt64,
    state           Enum8('pending' = 1, 'done' = 2),
    updated_at      DateTime64(3, 'UTC')
)
ENGINE = EmbeddedRocksDB
PRIMARY KEY key;
