-- One row per trade, exactly as it was on the topic plus where it came from.
-- Sorted by (symbol, ts, id): "this symbol's trades, most recent first" is a range
-- read in reverse. Partitioned by month of the trade's time.
-- non_replicated_deduplication_window: a retried insert with the same
-- insert_deduplication_token is dropped instead of stored twice.
CREATE TABLE IF NOT EXISTS trades
(
    id              UUID,
    ts              DateTime64(3, 'UTC'),
    symbol          LowCardinality(String),
    price           Decimal(18, 2),          -- dollars; the wire format is integer cents
    quantity        UInt32,
    kafka_partition UInt16,
    kafka_offset    UInt64,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (symbol, ts, id)
SETTINGS non_replicated_deduplication_window = 10000;
