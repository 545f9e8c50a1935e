// Formatting: money from integer cents, times from epoch milliseconds, CSV text.
// Pure functions (no DOM), so Node's test runner checks them (tests/js/).

export const NUMBER = new Intl.NumberFormat("en-US");

/** 123456 -> "$1,234.56": cents stay integers, so no float ever rounds a total. */
export function money(cents) {
  if (cents === null || cents === undefined) return "–";
  const sign = cents < 0 ? "-" : "";
  const abs = Math.abs(cents);
  return `${sign}$${NUMBER.format(Math.floor(abs / 100))}.${String(abs % 100).padStart(2, "0")}`;
}

/** 1583934115727 -> "2020-03-11 13:41:55.727" (UTC, as ClickHouse stores it). */
export const time = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 23) : "–");

/**
 * 1583934115727 -> "2020-03-11 22:41 GMT+9" in Tokyo: a minute in the viewer's time zone,
 * named in the viewer's language, and ordered year first as the UTC times beside it are; a
 * locale's own order ("03/11/2020" or "11/03/2020") would leave the day and the month to
 * guesswork. `timeZone` and `locale` default to the viewer's.
 */
export function localMinute(ms, { timeZone, locale } = {}) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat(locale ?? [], {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    timeZoneName: "short", numberingSystem: "latn", timeZone,
  }).formatToParts(ms).map(({ type, value }) => [type, value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${parts.timeZoneName}`;
}

/** "1234.5" -> 123450: a decimal string from the server, never parsed as a float. */
export function decimalCents(text) {
  const negative = text.startsWith("-");
  const [units, fraction = ""] = text.replace(/^-/, "").split(".");
  const cents = Number(units) * 100 + Number(fraction.padEnd(2, "0").slice(0, 2));
  return negative ? -cents : cents;
}

/** A CSV field: quoted when it holds a comma, quote or line break (RFC 4180). */
export function csvField(value) {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** Columns and rows as CSV text; values are written as the server sent them (decimals as text). */
export function toCsv(columns, rows) {
  return [columns, ...rows].map((row) => row.map(csvField).join(",")).join("\n") + "\n";
}
