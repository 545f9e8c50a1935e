-- One-minute candles per symbol for the drill-down chart. Open and close are the
-- least and greatest (ts, partition, offset, price) of the minute, so ties on ts
-- resolve the same way as the totals' latest price.
CREATE TABLE IF NOT EXISTS candles_1m
(
    symbol      LowCardinality(String),
    minute      DateTime('UTC'),
    first_trade SimpleAggregateFunction(min, Tuple(ts DateTime64(3, 'UTC'), kafka_partition UInt16, kafka_offset UInt64, price Decimal(18, 2))),
    last_trade  SimpleAggregateFunction(max, Tuple(ts DateTime64(3, 'UTC'), kafka_partition UInt16, kafka_offset UInt64, price Decimal(18, 2))),
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
SELECT
    symbol,
    toStartOfMinute(ts)                                AS minute,
    min((ts, kafka_partition, kafka_offset, price))    AS first_trade,
    max((ts, kafka_partition, kafka_offset, price))    AS last_trade,
    max(price)                                         AS high,
    min(price)                                         AS low,
    sum(quantity)                                      AS shares,
    sum(toDecimal128(price, 2) * quantity)             AS volume,
    count()                                            AS trades
FROM trades
GROUP BY symbol, minute;
