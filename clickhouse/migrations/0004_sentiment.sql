-- The sentiment job (workers/sentiment.py): every trade classified WHALE or MINNOW,
-- one row per trade id, and per-symbol counts kept by ClickHouse. Like the totals,
-- the counts are keyed by Kafka partition with the highest offset seen, which is
-- where the sentiment job resumes. Both tables deduplicate retried inserts.
CREATE TABLE IF NOT EXISTS trade_sentiment
(
    id              UUID,
    ts              DateTime64(3, 'UTC'),
    symbol          LowCardinality(String),
    quantity        UInt32,
    sentiment       Enum8('MINNOW' = 0, 'WHALE' = 1),
    kafka_partition UInt16,
    kafka_offset    UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (symbol, ts, id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS symbol_sentiment
(
    symbol          LowCardinality(String),
    kafka_partition UInt16,
    whales          UInt64,
    minnows         UInt64,
    max_offset      SimpleAggregateFunction(max, UInt64)
)
ENGINE = SummingMergeTree
ORDER BY (symbol, kafka_partition)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS symbol_sentiment_mv TO symbol_sentiment AS
SELECT
    symbol,
    kafka_partition,
    countIf(sentiment = 'WHALE')     AS whales,
    countIf(sentiment = 'MINNOW')    AS minnows,
    max(kafka_offset)                AS max_offset
FROM trade_sentiment
GROUP BY symbol, kafka_partition;
