-- Running totals per symbol and Kafka partition, kept by ClickHouse itself.
--
-- Keyed by partition as well as symbol so that one SELECT of this one table
-- returns both the totals and the highest ingested offset of every partition
-- ("watermarks") from the same set of parts: a consistent snapshot the dashboard
-- can apply later deltas to, and the position the workers resume from.
--
-- last_trade is the greatest (ts, partition, offset, price): the latest trade's
-- price and time, with a total order that breaks timestamp ties the same way
-- everywhere. Reads always aggregate (sum / max): rows are merged in the
-- background, never assumed merged.
CREATE TABLE IF NOT EXISTS symbol_totals
(
    symbol          LowCardinality(String),
    kafka_partition UInt16,
    trades          UInt64,
    shares          UInt64,
    volume          Decimal(38, 2),
    last_trade      SimpleAggregateFunction(max, Tuple(ts DateTime64(3, 'UTC'), kafka_partition UInt16, kafka_offset UInt64, price Decimal(18, 2))),
    max_offset      SimpleAggregateFunction(max, UInt64)
)
ENGINE = SummingMergeTree
ORDER BY (symbol, kafka_partition)
-- Without this a retried insert is dropped from trades but counted twice here.
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS symbol_totals_mv TO symbol_totals AS
SELECT
    symbol,
    kafka_partition,
    count()                                            AS trades,
    sum(quantity)                                      AS shares,
    sum(toDecimal128(price, 2) * quantity)             AS volume,
    max((ts, kafka_partition, kafka_offset, price))    AS last_trade,
    max(kafka_offset)                                  AS max_offset
FROM trades
GROUP BY symbol, kafka_partition;
