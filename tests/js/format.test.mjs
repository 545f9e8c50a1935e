import assert from "node:assert/strict";
import { test } from "node:test";

import { csvField, decimalCents, localMinute, money, time, toCsv } from "../../trademonitor/static/trademonitor/format.js";

test("money is exact from integer cents, with sign and thousands", () => {
  assert.equal(money(123456789), "$1,234,567.89");
  assert.equal(money(5), "$0.05");
  assert.equal(money(-250), "-$2.50");
  assert.equal(money(null), "–");
  assert.equal(money(900719925474099), "$9,007,199,254,740.99");  // past 2^53/100: no float rounding
});

test("times are UTC to the millisecond", () => {
  assert.equal(time(1583934115727), "2020-03-11 13:41:55.727");
  assert.equal(time(0), "–");
});

test("a local minute is year first, 24-hour, with its zone named, whatever the locale", () => {
  const at = (ms, timeZone, locale = "en-US") => localMinute(ms, { timeZone, locale });
  assert.equal(at(1583934115727, "Asia/Tokyo"), "2020-03-11 22:41 GMT+9");
  assert.equal(at(1583934115727, "UTC"), "2020-03-11 13:41 UTC");
  assert.equal(at(Date.UTC(2020, 0, 5, 23, 59), "America/New_York"), "2020-01-05 18:59 EST");
  assert.equal(at(Date.UTC(2020, 0, 5, 0, 5), "Europe/Berlin"), "2020-01-05 01:05 GMT+1");  // h23, not 24:05
  // Locales that put the day first, or name the zone in their own words.
  assert.equal(at(Date.UTC(2020, 0, 5, 23, 59), "America/New_York", "en-GB"), "2020-01-05 18:59 GMT-5");
  assert.equal(at(Date.UTC(2020, 0, 5, 0, 5), "Europe/Berlin", "de-DE"), "2020-01-05 01:05 MEZ");
});

test("decimal strings become cents without a float", () => {
  assert.equal(decimalCents("1234.5"), 123450);
  assert.equal(decimalCents("0.07"), 7);
  assert.equal(decimalCents("12"), 1200);
  assert.equal(decimalCents("-3.10"), -310);
});

test("CSV quotes what needs quoting and keeps decimals as text", () => {
  assert.equal(csvField('say "hi", then go'), '"say ""hi"", then go"');
  assert.equal(csvField("two\nlines"), '"two\nlines"');
  assert.equal(csvField(null), "");
  assert.equal(toCsv(["symbol", "volume"], [["AAPL", "1234567.89"], ["A,B", "0.10"]]),
    'symbol,volume\nAAPL,1234567.89\n"A,B",0.10\n');
});
