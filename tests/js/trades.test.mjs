import assert from "node:assert/strict";
import { test } from "node:test";

import { tradeKey } from "../../trademonitor/static/trademonitor/trades.js";

test("trades order by time, then by id as ClickHouse compares UUIDs: its last eight bytes first", () => {
  const a = "ffffffff-ffff-ffff-0000-000000000001";
  const b = "00000000-0000-0000-0000-000000000002";
  assert.ok(tradeKey(b, 1_000) > tradeKey(a, 1_000));  // b's last half is larger, whatever its first
  assert.ok(tradeKey(a, 1_001) > tradeKey(b, 1_000));  // time first
  assert.ok(tradeKey(a, 10_000) > tradeKey(a, 9_999));  // numbers, not digits, compared
  const c = "00000000-0000-0001-0000-000000000002";
  assert.ok(tradeKey(c, 1_000) > tradeKey(b, 1_000));  // equal last halves: the first decides
});
