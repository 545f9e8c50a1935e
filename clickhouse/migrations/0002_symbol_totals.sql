-- Running totals per symbol and Kafka partition, kept by ClickHouse itself.
--
-- Keyed by partition as well as symbol so that one SELECT of this one table
-- returns both the totals and the highest ingested offset of every partition
-- ("watermarks") from the same set of parts: a consistent snapshot the dashboard
-- can apply later deltas to, and the position the workers resume from.
--
-- Trades are ordered by (ts, partition, offset): a total order that breaks
-- timestamp ties the same way everywhere (the workers' deltas use it too). It is
-- packed into one UInt128 "order key", ts_ms << 80 | partition << 64 | offset,
-- because ClickHouse compares one integer several times faster than a tuple
-- (measured: the tuple version made every insert 2x slower). last_key is the
-- latest trade's key (its time is last_key >> 80), last_price its price.
-- Reads always aggregate (sum / max / -Merge): rows are merged in the background,
-- never assumed merged.
CREATE TABLE IF NOT EXISTS symbol_totals
(
    symbol          LowCardinality(String),
    kafka_partition UInt16,
    trades          UInt64,
    shares          UInt64,
    volume          Decimal(38, 2),
    last_key        SimpleAggregateFunction(max, UInt128),
    last_price      AggregateFunction(argMax, Decimal(18, 2), UInt128),
    max_offset      SimpleAggregateFunction(max, UInt64)
)
ENGINE = SummingMergeTree
ORDER BY (symbol, kafka_partition)
-- Without this a retried insert is dropped from trades but counted twice here.
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS symbol_totals_mv TO symbol_totals AS
WITH bitShiftLeft(toUInt128(toUnixTimestamp64Milli(ts)), 80)
     + bitShiftLeft(toUInt128(kafka_partition), 64) + kafka_offset AS order_key
SELECT
    symbol,
    kafka_partition,
    count()                                            AS trades,
    sum(quantity)                                      AS shares,
    sum(toDecimal128(price, 2) * quantity)             AS volume,
    max(order_key)                                     AS last_key,
    argMaxState(price, order_key)                      AS last_price,
    max(kafka_offset)                                  AS max_offset
FROM trades
GROUP BY symbol, kafka_partition;
