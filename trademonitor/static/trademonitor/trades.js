// A drill-down's order of trades, as ClickHouse orders them (ORDER BY ts DESC, id DESC).
// Pure: tested by tests/js/.

/**
 * A trade's place as one string: strings compare as ClickHouse compares (ts, id). ClickHouse
 * compares a UUID by its last eight bytes first (contract.TRADE_RECORD stores them so too).
 */
export function tradeKey(id, ms) {
  const hex = id.replaceAll("-", "");
  return String(ms).padStart(16, "0") + hex.slice(16) + hex.slice(0, 16);
}
