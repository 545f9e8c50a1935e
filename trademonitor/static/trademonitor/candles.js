// Candles for the chart: from the API's compact arrays, and the last one following live
// trades. Prices in integer cents; times in epoch milliseconds. Pure: tested by tests/js/.

/** contract.Candle arrays (indexes in `layout`) as objects. */
export function fromWire(rows, layout) {
  return rows.map((c) => ({
    start: c[layout.start], open: c[layout.open], high: c[layout.high], low: c[layout.low], close: c[layout.close],
    shares: c[layout.shares], volume: c[layout.volume], trades: c[layout.trades],
  }));
}

/**
 * `candles` with one more trade: its interval's candle is extended, or a new one begins.
 * Close, high and low are exact at once; a trade older than the last candle is left to the
 * next reload of the candles (returns false), as is a trade the loaded candles already held.
 */
export function addTrade(candles, { ms, price, quantity }, intervalMs) {
  const start = Math.floor(ms / intervalMs) * intervalMs;
  const last = candles[candles.length - 1];
  if (last && start < last.start) return false;
  if (!last || start > last.start) {
    candles.push({ start, open: price, high: price, low: price, close: price, shares: quantity,
      volume: price * quantity, trades: 1 });
    return true;
  }
  last.close = price;
  last.high = Math.max(last.high, price);
  last.low = Math.min(last.low, price);
  last.shares += quantity;
  last.volume += price * quantity;
  last.trades += 1;
  return true;
}

/**
 * Epoch milliseconds as the chart's time: the viewer's wall clock, in seconds. The chart
 * lays out and labels its time axis in UTC; shifted by each instant's local offset
 * (daylight saving included), its ticks fall on local minutes, hours and midnights, and
 * read as local time.
 */
export const chartTime = (ms) => (ms - new Date(ms).getTimezoneOffset() * 60_000) / 1000;

/**
 * The chart's time axis over [startMs, endMs): a point each interval, {ms, time} with time
 * in chartTime's seconds, whether or not the symbol traded in it. The chart places points
 * side by side, so without the empty ones a quiet hour would vanish and a lone candle would
 * fill the range. Times must ascend: where the wall clock goes back an hour (daylight
 * saving ends), the points before the change move back with it, so the latest hours, the
 * ones a trader reads, are labelled exactly.
 */
export function timeline(startMs, endMs, intervalMs) {
  const points = [];
  for (let ms = Math.floor(startMs / intervalMs) * intervalMs; ms < endMs; ms += intervalMs) {
    points.push({ ms, time: chartTime(ms) });
  }
  for (let i = points.length - 2; i >= 0; i -= 1) {
    points[i].time = Math.min(points[i].time, points[i + 1].time - intervalMs / 1000);
  }
  return points;
}

/** [first candle's start, last one's start + 1): the axis when the range is not known. */
export const candleSpan = (candles) => (candles.length ? [candles[0].start, candles[candles.length - 1].start + 1] : [0, 0]);

/** `points` continued, in place, by every interval up to `ms`'s: the points added. */
export function extend(points, ms, intervalMs) {
  const added = [];
  let last = points[points.length - 1];
  if (!last) return added;
  for (let at = last.ms + intervalMs; at <= ms; at += intervalMs) {
    last = { ms: at, time: Math.max(chartTime(at), last.time + intervalMs / 1000) };
    added.push(last);
  }
  points.push(...added);
  return added;
}
