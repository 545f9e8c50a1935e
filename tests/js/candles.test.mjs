import assert from "node:assert/strict";
import { test } from "node:test";

import { addTrade, chartTime, extend, fromWire, timeline } from "../../trademonitor/static/trademonitor/candles.js";

const MINUTE = 60_000;
const LAYOUT = { start: 0, open: 1, high: 2, low: 3, close: 4, shares: 5, volume: 6, trades: 7 };

test("wire candles become objects by the contract's indexes", () => {
  assert.deepEqual(fromWire([[MINUTE, 100, 120, 90, 110, 7, 770, 2]], LAYOUT),
    [{ start: MINUTE, open: 100, high: 120, low: 90, close: 110, shares: 7, volume: 770, trades: 2 }]);
});

test("a live trade extends the last candle: close is the trade, high and low widen", () => {
  const candles = [{ start: 0, open: 100, high: 120, low: 90, close: 110, shares: 7, volume: 770, trades: 2 }];
  assert.ok(addTrade(candles, { ms: 30_000, price: 130, quantity: 2 }, MINUTE));
  assert.deepEqual(candles[0], { start: 0, open: 100, high: 130, low: 90, close: 130, shares: 9, volume: 1030, trades: 3 });
  assert.ok(addTrade(candles, { ms: 59_999, price: 80, quantity: 1 }, MINUTE));
  assert.equal(candles[0].low, 80);
  assert.equal(candles[0].close, 80);
});

test("a trade of the next interval begins a candle; an older one waits for the reload", () => {
  const candles = [];
  assert.ok(addTrade(candles, { ms: 5 * MINUTE + 1, price: 200, quantity: 3 }, 5 * MINUTE));
  assert.deepEqual(candles, [{ start: 5 * MINUTE, open: 200, high: 200, low: 200, close: 200, shares: 3, volume: 600, trades: 1 }]);
  assert.ok(!addTrade(candles, { ms: 4 * MINUTE, price: 1, quantity: 1 }, 5 * MINUTE));
  assert.equal(candles.length, 1);
});

test("the chart's time is the viewer's wall clock, daylight saving included", (t) => {
  const zone = process.env.TZ;
  t.after(() => { process.env.TZ = zone; });
  const at = (month, hour, minute) => Date.UTC(2026, month, 28, hour, minute);

  process.env.TZ = "America/New_York";
  assert.equal(chartTime(at(10, 15, 39)), at(10, 10, 39) / 1000); // EST, UTC−5
  assert.equal(chartTime(at(6, 15, 39)), at(6, 11, 39) / 1000); // EDT, UTC−4
  process.env.TZ = "Asia/Kolkata";
  assert.equal(chartTime(at(10, 15, 39)), at(10, 21, 9) / 1000); // UTC+5:30
  process.env.TZ = "UTC";
  assert.equal(chartTime(at(10, 15, 39)), at(10, 15, 39) / 1000);
});

test("the time axis has a point each interval of the range, traded in or not", (t) => {
  const zone = process.env.TZ;
  t.after(() => { process.env.TZ = zone; });
  process.env.TZ = "UTC";
  const start = Date.UTC(2026, 10, 28, 15, 0);
  const points = timeline(start, start + 60 * MINUTE, 5 * MINUTE);
  assert.equal(points.length, 12);
  assert.deepEqual(points[0], { ms: start, time: start / 1000 });
  assert.deepEqual(points[11], { ms: start + 55 * MINUTE, time: (start + 55 * MINUTE) / 1000 });
  // A range that does not begin on an interval begins with the interval that holds its start.
  assert.equal(timeline(start + 2 * MINUTE, start + 15 * MINUTE, 5 * MINUTE)[0].ms, start);
});

test("where daylight saving ends the axis still ascends, and the latest hours keep their labels", (t) => {
  const zone = process.env.TZ;
  t.after(() => { process.env.TZ = zone; });
  process.env.TZ = "America/New_York";  // 2026-11-01 06:00 UTC: 02:00 EDT becomes 01:00 EST
  const start = Date.UTC(2026, 10, 1, 4, 0);
  const points = timeline(start, start + 4 * 60 * MINUTE, 15 * MINUTE);
  assert.equal(points.length, 16);
  for (let i = 1; i < points.length; i += 1) assert.ok(points[i].time > points[i - 1].time, `point ${i}`);
  const after = points.filter((p) => p.ms >= Date.UTC(2026, 10, 1, 6, 0));
  for (const p of after) assert.equal(p.time, chartTime(p.ms));
  assert.equal(points[0].time, chartTime(points[0].ms) - 3600);  // moved back an hour with the clock
});

test("a live candle past the range's end extends the axis by every interval up to it", (t) => {
  const zone = process.env.TZ;
  t.after(() => { process.env.TZ = zone; });
  process.env.TZ = "UTC";
  const points = timeline(0, 3 * MINUTE, MINUTE);
  assert.deepEqual(extend(points, 2 * MINUTE + 5, MINUTE), []);  // inside: nothing to add
  const added = extend(points, 5 * MINUTE + 5, MINUTE);
  assert.deepEqual(added.map((p) => p.ms), [3 * MINUTE, 4 * MINUTE, 5 * MINUTE]);
  assert.deepEqual(points.map((p) => p.time), [0, 60, 120, 180, 240, 300]);
  assert.deepEqual(extend([], MINUTE, MINUTE), []);  // no axis yet: the first load draws one
});
