import assert from "node:assert/strict";
import { test } from "node:test";

import { matching, sorted, totals } from "../../trademonitor/static/trademonitor/rows.js";

const rows = [
  { symbol: "MSFT", name: "Microsoft", trades: 3, volume: 80352900 },
  { symbol: "AAPL", name: "Apple", trades: 5, volume: 83796800 },
  { symbol: "AMZN", name: "Amazon.com", trades: 5, volume: 100 },
];

test("sorting is total: ties go by symbol, both directions", () => {
  const byTrades = sorted(rows, (r) => r.trades, -1).map((r) => r.symbol);
  assert.deepEqual(byTrades, ["AMZN", "AAPL", "MSFT"]);
  assert.deepEqual(sorted(rows, (r) => r.volume, -1).map((r) => r.symbol), ["AAPL", "MSFT", "AMZN"]);
  assert.deepEqual(sorted(rows, (r) => r.volume, 1).map((r) => r.symbol), ["AMZN", "MSFT", "AAPL"]);
});

test("search matches symbol or name in any case; the watchlist narrows", () => {
  assert.deepEqual(matching(rows, "micro").map((r) => r.symbol), ["MSFT"]);
  assert.deepEqual(matching(rows, "a").map((r) => r.symbol), ["AAPL", "AMZN"]);
  assert.deepEqual(matching(rows, "", new Set(["AMZN", "MSFT"])).map((r) => r.symbol), ["MSFT", "AMZN"]);
});

test("totals add trades and cents exactly", () => {
  assert.deepEqual(totals(rows), { trades: 13, volume: 164149800 });
});
