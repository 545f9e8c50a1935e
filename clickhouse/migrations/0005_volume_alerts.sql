-- The max-volume alerts job (workers/alerts.py): for every closed 5-minute window,
-- the symbol with the highest traded volume, computed from candles_1m. One row per
-- window: retried inserts carry the window as their deduplication token, and
-- ReplacingMergeTree keeps one row per window_start should two ever land.
CREATE TABLE IF NOT EXISTS volume_alerts
(
    window_start    DateTime('UTC'),
    window_end      DateTime('UTC'),
    symbol          LowCardinality(String),
    volume          Decimal(38, 2),
    trades          UInt64,
    emitted_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY window_start
SETTINGS non_replicated_deduplication_window = 10000;
