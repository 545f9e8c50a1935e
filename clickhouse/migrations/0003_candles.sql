-- One-minute candles per symbol for the drill-down chart. Open and close are the
-- prices of the minute's first and last trade by the order key of 0002 (ts,
-- partition, offset packed in a UInt128), so ties on ts resolve the same way as
-- the totals' latest price.
CREATE TABLE IF NOT EXISTS candles_1m
(
    symbol      LowCardinality(String),
    minute      DateTime('UTC'),
    open        AggregateFunction(argMin, Decimal(18, 2), UInt128),
    close       AggregateFunction(argMax, Decimal(18, 2), UInt128),
    high        SimpleAggregateFunction(max, Decimal(18, 2)),
    low         SimpleAggregateFunction(min, Decimal(18, 2)),
    shares      UInt64,
    volume      Decimal(38, 2),
    trades      UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (symbol, minute)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS candles_1m_mv TO candles_1m AS
WITH bitShiftLeft(toUInt128(toUnixTimestamp64Milli(ts)), 80)
     + bitShiftLeft(toUInt128(kafka_partition), 64) + kafka_offset AS order_key
SELECT
    symbol,
    toStartOfMinute(ts)                                AS minute,
    argMinState(price, order_key)                      AS open,
    argMaxState(price, order_key)                      AS close,
    max(price)                                         AS high,
    min(price)                                         AS low,
    sum(quantity)                                      AS shares,
    sum(toDecimal128(price, 2) * quantity)             AS volume,
    count()                                            AS trades
FROM trades
GROUP BY symbol, minute;
