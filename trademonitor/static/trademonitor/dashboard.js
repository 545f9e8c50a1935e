// Trade Monitor dashboard: a snapshot over the WebSocket, then deltas applied in place.
// Money is kept in integer cents and times in epoch milliseconds, so the totals shown are
// exactly ClickHouse's. Every text from the server goes in with textContent.
// Modules: format (pure), urlstate (pure), rows (pure), candles (pure), table, drilldown
// and chart, feed, watchlist, theme, sqlpanel; this one holds the state and wires them.

import { openDetail } from "./drilldown.js";
import { connect } from "./feed.js";
import { decimalCents, money, NUMBER } from "./format.js";
import { matching, sorted, totals } from "./rows.js";
import { setUpSqlPanel } from "./sqlpanel.js";
import { fillRow, flash, makeColumns, placeRows, renderHeader, rowElement, showOpen, showSort, showStarred }
  from "./table.js";
import { setUpTheme } from "./theme.js";
import { readView, writeView } from "./urlstate.js";
import { openWatchlist } from "./watchlist.js";

const $ = (selector) => document.querySelector(selector);
const config = (id) => JSON.parse(document.getElementById(id).textContent);

// The compact arrays' field indexes, from contract.py (rendered into the page).
const WIRE = config("wire-layout");
const PAGE = config("page-config");
const { Last: LAST, Totals: TOTALS, Row: ROW } = WIRE;
const COLUMNS = makeColumns(LAST);
const SORT_VALUES = Object.fromEntries(COLUMNS.filter((c) => c.sort).map((c) => [c.key, c.sort]));
const MAX_OPEN = WIRE.Subscribe.max_symbols;  // drill-downs the feed serves live trades to
const RESORT_MS = 1000;  // rows change in place; the order catches up once a second
const ALERTS_SHOWN = 10;

// Trades are ordered by (ms, partition, offset), as in ClickHouse.
const later = (a, b) => a[LAST.ms] !== b[LAST.ms] ? a[LAST.ms] > b[LAST.ms]
  : a[LAST.partition] !== b[LAST.partition] ? a[LAST.partition] > b[LAST.partition] : a[LAST.offset] > b[LAST.offset];
const priceOf = (row) => (row.last ? row.last[LAST.price] : null);

const state = {
  rows: new Map(),        // symbol -> {symbol, name, trades, shares, volume, last, change, whales}
  view: readView(location.search, MAX_OPEN),
  shown: new Map(),       // symbol -> <tr> on the current page, in order
  open: new Map(),        // symbol -> drill-down
  changed: new Set(),     // symbols updated since the last sort
  hovering: false,        // the pointer is on the table: no re-sort under it
  whaleQuantity: Infinity,  // from the snapshot: a trade of more shares is a whale
  alerts: new Map(),      // window_start -> max-volume alert
  watchlist: null,
  feed: null,
};
const direction = () => (state.view.dir === "asc" ? 1 : -1);

// ---- the feed ------------------------------------------------------------------------
function setConnection(online) {
  const element = $("#connection");
  element.textContent = online ? "live" : "reconnecting";
  element.className = online ? "online" : "offline";
  document.body.dataset.feed = online ? "live" : "offline";
  if (!online) $("#trades-per-second").textContent = "–";  // a figure nothing updates is not shown
}

function subscribe() {
  state.feed?.send({ type: "subscribe", symbols: [...state.open.keys()] });
}

function receive(message) {
  if (message.type === "snapshot") applySnapshot(message);
  else if (message.type === "delta") { applyDelta(message.symbols); applyWhales(message.whales || {}); }
  else if (message.type === "trades") state.open.get(message.symbol)?.liveTrades(message.trades);
  else if (message.type === "page") state.open.get(message.symbol)?.firstPage(message);
  else if (message.type === "alerts") applyAlerts(message.alerts);
  else if (message.type === "moves") applyMoves(message.moves);
  else if (message.type === "status") showStatus(message);
}

// No worker running means no new trades, however live the feed: said, in the feed's colour for "down".
// Trades a second are the web process's count, over the last 5 s of what it heard (contract.StatusFrame).
function showStatus({ lag, workers, trades_per_second: rate }) {
  // null in the web process's first second; absent from a server older than the figure.
  $("#trades-per-second").textContent = typeof rate === "number" ? NUMBER.format(rate) : "–";
  const element = $("#lag");
  element.textContent = workers ? `${NUMBER.format(lag)} (${workers} worker${workers === 1 ? "" : "s"})`
    : "no workers running";
  element.className = workers ? "" : "offline";
}

function applySnapshot(message) {
  const previous = state.rows;
  state.rows = new Map();
  state.whaleQuantity = message.whale_quantity;
  for (const [symbol, row] of Object.entries(message.symbols)) {
    state.rows.set(symbol, { symbol, name: row[ROW.name], trades: row[ROW.trades], shares: row[ROW.shares],
      volume: row[ROW.volume], last: row[ROW.last], whales: row[ROW.whales],
      change: row[ROW.change] || (previous.get(symbol)?.change ?? 0) });
  }
  document.body.dataset.snapshots = String(Number(document.body.dataset.snapshots || 0) + 1);
  render();
  applyAlerts(message.alerts || []);
}

function applyDelta(symbols) {
  for (const [symbol, delta] of Object.entries(symbols)) {
    let row = state.rows.get(symbol);
    if (!row) {
      row = { symbol, name: symbol, trades: 0, shares: 0, volume: 0, last: null, change: 0, whales: 0 };
      state.rows.set(symbol, row);
    }
    const last = delta[TOTALS.last];
    row.trades += delta[TOTALS.trades];
    row.shares += delta[TOTALS.shares];
    row.volume += delta[TOTALS.volume];
    let moved = 0;
    if (!row.last || later(last, row.last)) {
      const before = priceOf(row);
      row.last = last;
      const now = priceOf(row);
      if (before !== null && now !== before) row.change = now - before;
      moved = before === null ? 0 : Math.sign(now - before);
    }
    updateRow(symbol, moved);
  }
  updateSummary();
}

/** Moves the server worked out after the snapshot; a move heard here since is newer. */
function applyMoves(moves) {
  for (const [symbol, change] of Object.entries(moves)) {
    const row = state.rows.get(symbol);
    if (!row || row.change) continue;
    row.change = change;
    updateRow(symbol, 0);
  }
}

function applyWhales(whales) {
  for (const [symbol, count] of Object.entries(whales)) {
    const row = state.rows.get(symbol);
    if (!row) continue;
    row.whales += count;
    updateRow(symbol, 0);
  }
}

// ---- max-volume alerts ---------------------------------------------------------------
function alertText(alert) {
  const span = `${alert.window_start.slice(0, 16).replace("T", " ")}–${alert.window_end.slice(11, 16)} UTC`;
  const name = state.rows.get(alert.symbol)?.name;
  return `${span}: ${alert.symbol}${name && name !== alert.symbol ? ` (${name})` : ""} ` +
    `${money(decimalCents(alert.volume))} in ${NUMBER.format(alert.trades)} trades`;
}

function applyAlerts(alerts) {
  for (const alert of alerts) state.alerts.set(alert.window_start, alert);
  const newest = [...state.alerts.keys()].sort().reverse().slice(0, ALERTS_SHOWN);
  state.alerts = new Map(newest.map((key) => [key, state.alerts.get(key)]));
  if (!newest.length) return;
  const [latest, ...earlier] = newest.map((key) => state.alerts.get(key));
  $("#alert-banner").textContent = alertText(latest);
  $("#alert-feed").replaceChildren(...earlier.map((alert) =>
    Object.assign(document.createElement("li"), { textContent: alertText(alert) })));
  $("#alerts").hidden = false;
}

// ---- the table -----------------------------------------------------------------------
function selectedRows() {
  const only = state.view.watchlist ? state.watchlist?.symbols ?? new Set() : null;
  return sorted(matching([...state.rows.values()], state.view.q, only), SORT_VALUES[state.view.sort], direction());
}

/** The current page in sort order. Rows already shown keep their elements (and flashes). */
function render() {
  const rows = selectedRows();
  const pages = Math.max(1, Math.ceil(rows.length / state.view.rows));
  state.view.page = Math.min(state.view.page, pages);
  const start = (state.view.page - 1) * state.view.rows;
  const focused = document.activeElement?.closest?.("tr.symbol-row")?.dataset.symbol;
  const shown = new Map();
  const elements = [];
  for (const row of rows.slice(start, start + state.view.rows)) {
    let tr = state.shown.get(row.symbol);
    if (tr) fillRow(tr, row, COLUMNS);
    else tr = rowElement(row, COLUMNS, { open: state.open.has(row.symbol), starred: state.watchlist?.has(row.symbol) ?? false,
      onToggle: toggleDetail, onStar: toggleStar });
    shown.set(row.symbol, tr);
    elements.push(tr);
    if (state.open.has(row.symbol)) elements.push(state.open.get(row.symbol).element);
  }
  state.shown = shown;
  placeRows($("#symbols tbody"), elements);
  rovingFocus(focused);
  document.body.dataset.renders = String(Number(document.body.dataset.renders || 0) + 1);
  state.changed.clear();
  $("#page-info").textContent = `page ${state.view.page} of ${pages} (${NUMBER.format(rows.length)} symbols)`;
  showSort($("#symbols thead tr"), { key: state.view.sort, direction: direction() });
  showSortStatus();
  updateWatchlistSummary();
  saveView();
  updateSummary();
}

function updateRow(symbol, moved) {
  const tr = state.shown.get(symbol);
  state.changed.add(symbol);
  if (!tr) return;
  fillRow(tr, state.rows.get(symbol), COLUMNS);
  if (moved) flash(tr, moved);
}

/** Once a second: re-sort if anything changed, unless the pointer is on the table. */
function resortTick() {
  if (state.changed.size && !state.hovering) render(); else showSortStatus();
}

function showSortStatus() {
  const label = COLUMNS.find((c) => c.key === state.view.sort).label;
  const status = $("#sort-status");
  status.dataset.paused = String(state.hovering && state.changed.size > 0);
  status.textContent = status.dataset.paused === "true"
    ? `Sorting paused while the pointer is on the table: ${NUMBER.format(state.changed.size)} ${
      state.changed.size === 1 ? "symbol" : "symbols"} changed`
    : `Sorted by ${label} ${direction() > 0 ? "▲" : "▼"}, re-sorted every second`;
}

function updateSummary() {
  const { trades, volume } = totals(state.rows.values());
  $("#total-trades").textContent = NUMBER.format(trades);
  $("#total-volume").textContent = money(volume);
}

// ---- watchlist ---------------------------------------------------------------------------
async function toggleStar(symbol) {
  try {
    const starred = await state.watchlist.toggle(symbol);
    const tr = state.shown.get(symbol);
    if (tr) showStarred(tr, starred);
    if (state.view.watchlist) render(); else updateWatchlistSummary();
  } catch (failure) {
    console.warn(`watchlist not changed: ${failure.message}`);
  }
}

function updateWatchlistSummary() {
  const button = $("#watchlist-view");
  button.setAttribute("aria-pressed", String(state.view.watchlist));
  const summary = $("#watchlist-summary");
  summary.hidden = !state.view.watchlist;
  if (!state.view.watchlist || !state.watchlist) return;
  const rows = [...state.watchlist.symbols].map((s) => state.rows.get(s)).filter(Boolean);
  const { trades, volume } = totals(rows);
  summary.textContent = `Watchlist: ${NUMBER.format(rows.length)} symbols, ${NUMBER.format(trades)} trades, ` +
    `${money(volume)} volume${PAGE.authenticated ? " (kept with your account)" : " (kept in this browser)"}`;
}

// ---- drill-downs -------------------------------------------------------------------------
const detailContext = {
  layout: WIRE, columns: COLUMNS.length, exportCap: PAGE.export_cap,
  view: () => state.view, whaleQuantity: () => state.whaleQuantity,
  feedIsLive: () => state.feed?.socket?.readyState === WebSocket.OPEN,
  onChart(interval, range) {
    Object.assign(state.view, { interval, range });
    for (const detail of state.open.values()) detail.refreshChart();
    saveView();
  },
};

function toggleDetail(symbol) {
  if (state.open.has(symbol)) closeDetail(symbol);
  else {
    // The feed serves live trades to at most MAX_OPEN drill-downs: the oldest one makes room.
    if (state.open.size >= MAX_OPEN) closeDetail(state.open.keys().next().value);
    state.open.set(symbol, openDetail(symbol, detailContext));
    afterDetailsChanged(symbol);
  }
}

function closeDetail(symbol) {
  state.open.get(symbol).close();
  state.open.delete(symbol);
  afterDetailsChanged(symbol);
}

function afterDetailsChanged(symbol) {
  state.view.open = [...state.open.keys()];
  const tr = state.shown.get(symbol);
  if (tr) showOpen(tr, state.open.has(symbol));
  render();
  subscribe();
}

/** Drill-downs as the view names them (a link, a reload, back or forward). */
function openDetailsOfView() {
  for (const symbol of [...state.open.keys()]) {
    if (!state.view.open.includes(symbol)) { state.open.get(symbol).close(); state.open.delete(symbol); }
  }
  for (const symbol of state.view.open) {
    if (!state.open.has(symbol)) state.open.set(symbol, openDetail(symbol, detailContext));
  }
  for (const [symbol, tr] of state.shown) showOpen(tr, state.open.has(symbol));
  subscribe();
}

// ---- keyboard: arrows between rows, Enter opens, Esc closes, / searches -----------------
function rovingFocus(symbol) {
  const rows = [...state.shown.values()];
  const current = state.shown.get(symbol) ?? rows[0];
  for (const tr of rows) tr.tabIndex = tr === current ? 0 : -1;
}

function focusRow(tr) {
  if (!tr) return;
  rovingFocus(tr.dataset.symbol);
  tr.focus();
}

function onTableKey(event) {
  const row = event.target.closest("tr.symbol-row");
  const detail = event.target.closest("tr.detail");
  if (event.key === "Escape" && (row || detail)) {
    const symbol = row?.dataset.symbol ?? detail.dataset.detailFor;
    if (state.open.has(symbol)) { closeDetail(symbol); focusRow(state.shown.get(symbol)); event.preventDefault(); }
    return;
  }
  if (!row || event.target !== row) return;  // keys on the row's buttons are theirs
  const rows = [...state.shown.values()];
  const at = rows.indexOf(row);
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    focusRow(rows[at + (event.key === "ArrowDown" ? 1 : -1)]);
    event.preventDefault();
  } else if (event.key === "Enter") {
    toggleDetail(row.dataset.symbol);
    event.preventDefault();
  }
}

function onDocumentKey(event) {
  const typing = event.target.closest?.("input, textarea, select");
  if (event.key === "/" && !typing) { $("#search").focus(); event.preventDefault(); }
  if (event.key === "ArrowDown" && event.target.id === "search") {
    focusRow(state.shown.values().next().value);
    event.preventDefault();
  }
}

// ---- the view in the URL -------------------------------------------------------------------
function saveView() {
  const query = writeView(state.view);
  if (query !== location.search) history.replaceState(null, "", `${location.pathname}${query}`);
}

function showViewInControls() {
  $("#search").value = state.view.q;
  $("#page-size").value = String(state.view.rows);
}

function restoreView() {
  state.view = readView(location.search, MAX_OPEN);
  showViewInControls();
  openDetailsOfView();
  for (const detail of state.open.values()) detail.refreshChart();
  render();
}

// ---- set-up --------------------------------------------------------------------------------
function sortBy(key) {
  const dir = state.view.sort === key ? (state.view.dir === "asc" ? "desc" : "asc")
    : (key === "symbol" || key === "name" ? "asc" : "desc");
  Object.assign(state.view, { sort: key, dir });
  render();
}

async function setUp() {
  renderHeader($("#symbols thead tr"), COLUMNS, sortBy);
  showViewInControls();
  setUpTheme($("#theme"), () => { for (const detail of state.open.values()) detail.retheme(); });
  $("#search").addEventListener("input", (event) => { state.view.q = event.target.value.trim(); state.view.page = 1; render(); });
  $("#page-size").addEventListener("change", (event) => { state.view.rows = Number(event.target.value); state.view.page = 1; render(); });
  $("#prev-page").addEventListener("click", () => { state.view.page = Math.max(1, state.view.page - 1); render(); });
  $("#next-page").addEventListener("click", () => { state.view.page += 1; render(); });
  $("#watchlist-view").addEventListener("click", () => { state.view.watchlist = !state.view.watchlist; state.view.page = 1; render(); });
  const table = $("#symbols tbody");
  // A mouse or pen resting on the table pauses re-sorting; a finger's tap does not.
  table.addEventListener("pointerenter", (event) => { state.hovering = event.pointerType !== "touch"; });
  table.addEventListener("pointerleave", () => { state.hovering = false; resortTick(); });
  table.addEventListener("keydown", onTableKey);
  document.addEventListener("keydown", onDocumentKey);
  addEventListener("popstate", restoreView);
  setUpSqlPanel($);
  setInterval(resortTick, RESORT_MS);
  try {
    state.watchlist = await openWatchlist(PAGE.authenticated);
  } catch (failure) {
    console.warn(`watchlist not loaded: ${failure.message}`);
    state.watchlist = await openWatchlist(false);
  }
  openDetailsOfView();
  state.feed = connect({ onOpen: subscribe, onMessage: receive, onStatus: setConnection, ackEveryMs: WIRE.Ack.every_ms });
}

setUp();
