// The dashboard's view in the URL: search, sort, page, rows per page, open drill-downs,
// chart interval and range, and the watchlist view. Only what differs from the defaults
// is written, so a plain link stays plain. Pure functions: tested by tests/js/.

export const INTERVALS = [1, 5, 15];               // chart candle minutes
export const RANGES = [30, 60, 360, 1440];         // chart range minutes: 30 m, 1 h, 6 h, 1 d
export const PAGE_SIZES = [25, 50, 100];
export const SORT_KEYS = ["symbol", "name", "price", "change", "trades", "shares", "volume", "time", "whales"];

export const DEFAULTS = Object.freeze({
  q: "", sort: "volume", dir: "desc", page: 1, rows: 50, open: [], interval: 1, range: 60, watchlist: false,
});

const oneOf = (value, allowed, fallback) => (allowed.includes(value) ? value : fallback);
const wholeNumber = (text) => (/^\d{1,6}$/.test(text ?? "") ? Number(text) : NaN);

/** The view a query string describes; anything unknown or out of range falls back to the default.
 * At most `maxOpen` drill-downs: the feed serves live trades to no more. */
export function readView(search, maxOpen = 20) {
  const params = new URLSearchParams(search);
  const page = wholeNumber(params.get("page"));
  return {
    q: (params.get("q") ?? "").slice(0, 100),
    sort: oneOf(params.get("sort"), SORT_KEYS, DEFAULTS.sort),
    dir: oneOf(params.get("dir"), ["asc", "desc"], DEFAULTS.dir),
    page: page >= 1 ? page : DEFAULTS.page,
    rows: oneOf(wholeNumber(params.get("rows")), PAGE_SIZES, DEFAULTS.rows),
    open: [...new Set((params.get("open") ?? "").split(",").filter((s) => /^[A-Za-z0-9.\-]{1,16}$/.test(s)))]
      .slice(0, maxOpen),
    interval: oneOf(wholeNumber(params.get("interval")), INTERVALS, DEFAULTS.interval),
    range: oneOf(wholeNumber(params.get("range")), RANGES, DEFAULTS.range),
    watchlist: params.get("view") === "watchlist",
  };
}

/** The query string for a view ("" for the defaults), in a fixed order. */
export function writeView(view) {
  const params = new URLSearchParams();
  if (view.q) params.set("q", view.q);
  if (view.sort !== DEFAULTS.sort) params.set("sort", view.sort);
  if (view.dir !== DEFAULTS.dir) params.set("dir", view.dir);
  if (view.page !== DEFAULTS.page) params.set("page", String(view.page));
  if (view.rows !== DEFAULTS.rows) params.set("rows", String(view.rows));
  if (view.open.length) params.set("open", view.open.join(","));
  if (view.interval !== DEFAULTS.interval) params.set("interval", String(view.interval));
  if (view.range !== DEFAULTS.range) params.set("range", String(view.range));
  if (view.watchlist) params.set("view", "watchlist");
  const text = params.toString().replaceAll("%2C", ",");
  return text ? `?${text}` : "";
}
