import assert from "node:assert/strict";
import { test } from "node:test";

import { DEFAULTS, readView, writeView } from "../../trademonitor/static/trademonitor/urlstate.js";

test("the default view is a plain link", () => {
  assert.deepEqual(readView(""), { ...DEFAULTS });
  assert.equal(writeView({ ...DEFAULTS }), "");
});

test("every part of a view survives a round trip", () => {
  const view = { q: "micro soft", sort: "price", dir: "asc", page: 3, rows: 100, open: ["AAPL", "BRK.B"],
    interval: 15, range: 1440, watchlist: true };
  const search = writeView(view);
  assert.equal(search, "?q=micro+soft&sort=price&dir=asc&page=3&rows=100&open=AAPL,BRK.B&interval=15&range=1440&view=watchlist");
  assert.deepEqual(readView(search), view);
});

test("hostile or unknown values fall back to the defaults", () => {
  const view = readView("?sort=__proto__&dir=sideways&page=-2&rows=7&open=<img>,AAPL,AAPL&interval=2&range=abc&view=x");
  assert.deepEqual(view, { ...DEFAULTS, open: ["AAPL"] });
  assert.equal(readView(`?q=${"x".repeat(500)}`).q.length, 100);
});

test("no more drill-downs open than the feed serves", () => {
  const symbols = Array.from({ length: 30 }, (_, i) => `S${i}`);
  assert.deepEqual(readView(`?open=${symbols.join(",")}`, 20).open, symbols.slice(0, 20));
});
