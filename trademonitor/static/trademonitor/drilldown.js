// A symbol's drill-down: its trades newest first (the first page from the feed, older ones
// paged in from the API on scroll, new ones live from the feed), a price chart whose last
// candle follows them, and a CSV download.

import { addTrade, candleSpan, fromWire } from "./candles.js";
import { priceChart } from "./chart.js";
import { money, NUMBER, time } from "./format.js";
import { tradeKey } from "./trades.js";
import { INTERVALS, RANGES } from "./urlstate.js";

const RANGE_LABELS = { 30: "30 m", 60: "1 h", 360: "6 h", 1440: "1 d" };
const CANDLES_RELOAD_MS = 2000;  // after live trades: volume exact again, a missed trade drawn
// A drill-down open all day gains a row a live trade: past this many, and while its reader is
// at the top, the table starts again from the newest page (older ones page in on scroll). It
// does so too when live trades came faster than a frame holds (rows would be missing).
const MAX_TRADE_ROWS = 1000;
// At most one such start a drill-down every two seconds: a symbol trading faster than frames
// hold would otherwise ask the API ten times a second (its limit is per address, 600/m).
const START_AGAIN_MS = 2000;
// The feed answers a drill-down's opening with its first page, within milliseconds, and again
// when it reconnects. A server that does not (one of an older release, in a rolling update)
// leaves the page to the API after this long.
const FIRST_PAGE_WAIT_MS = 5000;

function cell(className, text) {
  const td = document.createElement("td");
  td.className = className;
  td.textContent = text;
  return td;
}

function buttons(values, label, current, onPick) {
  return values.map((value) => {
    const button = Object.assign(document.createElement("button"), { type: "button", textContent: label(value) });
    button.setAttribute("aria-pressed", String(value === current));
    button.addEventListener("click", () => onPick(value));
    return button;
  });
}

/**
 * The drill-down row for `symbol`. `context`: { layout (contract's field indexes), columns
 * (the table's width), view ({interval, range}), whaleQuantity(), exportCap, onChart(interval, range) }.
 */
export function openDetail(symbol, context) {
  const element = document.createElement("tr");
  element.className = "detail";
  element.dataset.detailFor = symbol;
  const td = document.createElement("td");
  td.colSpan = context.columns;
  td.innerHTML = `<div class="detail-body">
      <section class="trades-pane">
        <p class="detail-tools"><a class="csv" download>Download CSV</a> <span class="csv-note"></span></p>
        <div class="trades-scroll" tabindex="0" role="region"><table><thead><tr><th>Trade</th><th>Time (UTC)</th>
          <th class="num">Price</th><th class="num">Quantity</th><th class="num">Value</th></tr></thead>
          <tbody></tbody></table></div>
      </section>
      <section class="chart-pane">
        <div class="chart-tools"><span class="intervals" role="group"></span><span class="ranges" role="group"></span></div>
        <p class="chart-legend"></p>
        <div class="chart" role="img"></div>
      </section></div>`;
  element.append(td);
  const find = (selector) => td.querySelector(selector);
  find(".trades-scroll").setAttribute("aria-label", `Trades of ${symbol}, newest first`);
  find(".intervals").setAttribute("aria-label", `Candle interval of ${symbol}`);
  find(".ranges").setAttribute("aria-label", `Chart range of ${symbol}`);
  find(".chart").setAttribute("aria-label", `Price and volume candles of ${symbol}`);

  const detail = {
    symbol, element, ids: new Set(), next: undefined, loading: false, newest: null, candles: [],
    gap: false, startedAgain: -Infinity, startTimer: null, closed: false,
    early: [],  // live trades received before the first page: see liveTrades
    body: find("tbody"), scroller: find(".trades-scroll"), chart: priceChart(find(".chart"), find(".chart-legend")),
  };
  find(".chart").chartApi = detail.chart.chart;  // for the browser tests: its axes
  detail.scroller.addEventListener("scroll", () => {
    const { scrollTop, scrollHeight, clientHeight } = detail.scroller;
    if (scrollTop + clientHeight > scrollHeight - 40) loadOlder(detail, context);
    startAgainWhenDue(detail, context);  // back at the top of a table that grew or missed rows
  });

  const showChartControls = () => {
    const { interval, range } = context.view();
    find(".intervals").replaceChildren(...buttons(INTERVALS, (m) => `${m} m`, interval,
      (m) => context.onChart(m, context.view().range)));
    find(".ranges").replaceChildren(...buttons(RANGES, (m) => RANGE_LABELS[m], range,
      (m) => context.onChart(context.view().interval, m)));
    const csv = find("a.csv");
    csv.href = `/api/symbols/${encodeURIComponent(symbol)}/trades.csv?minutes=${range}`;
    csv.setAttribute("aria-label", `Download CSV of ${symbol}'s trades, the last ${RANGE_LABELS[range]}`);
    find(".csv-note").textContent =
      `the last ${RANGE_LABELS[range]}, newest first, at most ${NUMBER.format(context.exportCap)} rows`;
  };

  Object.assign(detail, {
    /** The view's interval or range changed: controls and candles anew. */
    refreshChart() { showChartControls(); loadCandles(detail, context); },
    liveTrades(trades) { liveTrades(detail, trades, context); },
    firstPage(frame) { firstPage(detail, frame, context); },
    retheme() { detail.chart.retheme(); },
    close() {
      detail.closed = true;
      clearTimeout(detail.candleTimer);
      clearTimeout(detail.startTimer);
      clearTimeout(detail.pageTimer);
      detail.chart.remove();
      element.remove();
    },
  });
  showChartControls();
  // The feed sends the first page once it hears of this drill-down (contract.PageFrame);
  // without a live feed, or should it not come, the API gives it.
  if (context.feedIsLive()) detail.pageTimer = setTimeout(() => loadOlder(detail, context), FIRST_PAGE_WAIT_MS);
  else loadOlder(detail, context);
  loadCandles(detail, context);
  return detail;
}

/**
 * The next page of older trades (the first page when none is shown yet). `anew`: the first
 * page replaces every row shown, once it is in (the table never stands empty meanwhile).
 */
async function loadOlder(detail, context, anew = false) {
  if (detail.loading || (detail.next === null && !anew)) return;
  detail.loading = true;
  if (anew) detail.early = [];
  const cursor = detail.next && !anew ? `&before=${encodeURIComponent(detail.next)}` : "";
  try {
    const response = await fetch(`/api/symbols/${encodeURIComponent(detail.symbol)}/trades?limit=50${cursor}`);
    const page = await response.json();
    if (!response.ok) throw new Error(page.error);
    showPage(detail, page, anew, context);
  } catch (failure) {
    console.warn(`trades of ${detail.symbol} not loaded: ${failure.message}`);  // scrolling again retries
  } finally {
    detail.loading = false;
    drawEarly(detail, context);
  }
}

/**
 * The feed's answer to this drill-down's opening: its first page, or `trades` null when the
 * web process has none kept (the API reads it). Once a page is in or on its way, from the
 * feed or the API, these are the symbol's newest trades, as a live frame's are: a feed that
 * reconnected sends them again.
 */
function firstPage(detail, { trades, next }, context) {
  clearTimeout(detail.pageTimer);
  if (detail.next !== undefined || detail.loading) {
    if (trades !== null) liveTrades(detail, trades, context);
  } else if (trades === null) {
    loadOlder(detail, context);
  } else {
    showPage(detail, { trades, next }, false, context);
    drawEarly(detail, context);
  }
}

/** A page's rows below those shown (in place of them, `anew`), and the cursor of the page after. */
function showPage(detail, page, anew, context) {
  if (anew) {
    detail.body.replaceChildren();
    detail.ids.clear();
    detail.newest = null;
    detail.gap = false;
  }
  for (const trade of page.trades) addRow(detail, trade, false, context);
  detail.next = page.next;
}

/** The live trades that came before the first page, drawn now that it is in. */
function drawEarly(detail, context) {
  const early = detail.early;
  detail.early = null;  // from now on, live trades are drawn as they come
  for (const trades of early ?? []) liveTrades(detail, trades, context);
  startAgainWhenDue(detail, context);
}

function tradeRow(trade, fresh, context) {
  const { layout } = context;
  const id = trade[layout.Trade.id], ms = trade[layout.Trade.ms];
  const price = trade[layout.Trade.price], quantity = trade[layout.Trade.quantity];
  const whale = quantity > context.whaleQuantity();
  const tr = document.createElement("tr");
  tr.dataset.tradeId = id;
  tr.dataset.ms = String(ms);
  tr.className = [fresh ? "new" : "", whale ? "whale" : ""].join(" ").trim();
  const size = cell("num", NUMBER.format(quantity));
  if (whale) size.prepend(Object.assign(document.createElement("span"),
    { className: "whale-badge", textContent: "WHALE", title: `more than ${NUMBER.format(context.whaleQuantity())} shares` }));
  tr.append(cell("", id.slice(0, 8)), cell("", time(ms)), cell("num", money(price)), size, cell("num", money(price * quantity)));
  return tr;
}

/**
 * Adds a trade's row once; true when it was new. A live one (`atTop`) goes where it belongs
 * among the newest: a symbol's trades are inserted partition by partition, so a frame can
 * bring trades older than rows another partition's frame already put on top.
 */
function addRow(detail, trade, atTop, context) {
  const id = trade[context.layout.Trade.id];
  if (detail.ids.has(id)) return false;
  detail.ids.add(id);
  const tr = tradeRow(trade, atTop, context);
  const ms = trade[context.layout.Trade.ms];
  tr.dataset.key = tradeKey(id, ms);
  if (atTop) {
    let newer = detail.body.firstElementChild;
    while (newer && newer.dataset.key > tr.dataset.key) newer = newer.nextElementSibling;
    detail.body.insertBefore(tr, newer);
  } else {
    detail.body.append(tr);
  }
  if (detail.newest === null || ms >= detail.newest) detail.newest = ms;
  return true;
}

function liveTrades(detail, trades, context) {
  // Before the first page is in, the feed's newest trades are mostly ones the page will
  // hold: kept until it is, they are then drawn as new only if it did not hold them.
  if (detail.early) {
    detail.early.push(trades);
    return;
  }
  const T = context.layout.Trade;
  const intervalMs = context.view().interval * 60_000;
  const shown = detail.ids.size > 0;
  let added = 0, drawn = false;
  // Newest first from the server: taken oldest first, so the last candle follows them in time.
  for (const trade of [...trades].reverse()) {
    const newest = detail.newest;
    if (!addRow(detail, trade, true, context)) continue;
    added += 1;
    if (newest !== null && trade[T.ms] < newest) continue;
    drawn = addTrade(detail.candles, { ms: trade[T.ms], price: trade[T.price], quantity: trade[T.quantity] },
      intervalMs) || drawn;
  }
  if (drawn) detail.chart.updateLast();
  // A frame is the symbol's newest trades, so it overlaps the rows shown unless more came
  // since the last one than a frame holds: then rows are missing under the new ones.
  if (shown && added > 0 && added === trades.length) detail.gap = true;
  startAgainWhenDue(detail, context);
  if (!detail.candleTimer) {
    detail.candleTimer = setTimeout(() => { detail.candleTimer = null; loadCandles(detail, context); }, CANDLES_RELOAD_MS);
  }
}

/** The table from the newest page again, if it is missing rows or too long and its reader is
 * at the top: now, or once START_AGAIN_MS have passed since the last time. */
function startAgainWhenDue(detail, context) {
  const due = () => (detail.gap || detail.body.childElementCount > MAX_TRADE_ROWS) && detail.scroller.scrollTop === 0
    && !detail.loading && !detail.closed;  // a load in flight checks again when it ends
  if (detail.startTimer || !due()) return;
  detail.startTimer = setTimeout(() => {
    detail.startTimer = null;
    if (!due()) return;
    detail.startedAgain = performance.now();
    loadOlder(detail, context, true);
  }, Math.max(0, detail.startedAgain + START_AGAIN_MS - performance.now()));
}

async function loadCandles(detail, context) {
  const { interval, range } = context.view();
  try {
    const response = await fetch(
      `/api/symbols/${encodeURIComponent(detail.symbol)}/candles?minutes=${range}&interval=${interval}`);
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error);
    if (answer.interval !== context.view().interval) return;  // the view changed meanwhile: its own load follows
    detail.candles = fromWire(answer.candles, context.layout.Candle);
    // A server older than the range's bounds (a rolling update) gives none: the candles' own span.
    const span = Number.isFinite(answer.start) ? [answer.start, answer.end] : candleSpan(detail.candles);
    detail.chart.set(detail.candles, ...span, answer.interval * 60_000);
  } catch (failure) {
    console.warn(`candles of ${detail.symbol} not loaded: ${failure.message}`);  // the next trades reload them
  }
}
