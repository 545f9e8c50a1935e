// Trade Monitor dashboard: a snapshot over the WebSocket, then deltas applied in place.
// Money is kept in integer cents and times in epoch milliseconds, so the totals shown
// are exactly ClickHouse's. Every text from the server goes in with textContent.

const $ = (selector) => document.querySelector(selector);
const NUMBER = new Intl.NumberFormat("en-US");

// The compact arrays' field indexes, from contract.py (rendered into the page).
const WIRE = JSON.parse(document.getElementById("wire-layout").textContent);
const LAST = WIRE.Last, TOTALS = WIRE.Totals, ROW = WIRE.Row, TRADE = WIRE.Trade, CANDLE = WIRE.Candle;
const ACK_EVERY_MS = WIRE.Ack.every_ms;

export function money(cents) {
  if (cents === null || cents === undefined) return "–";
  const sign = cents < 0 ? "-" : "";
  const abs = Math.abs(cents);
  return `${sign}$${NUMBER.format(Math.floor(abs / 100))}.${String(abs % 100).padStart(2, "0")}`;
}

const time = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 23) : "–");

// Trades are ordered by (ms, partition, offset), as in ClickHouse.
const later = (a, b) => a[LAST.ms] !== b[LAST.ms] ? a[LAST.ms] > b[LAST.ms]
  : a[LAST.partition] !== b[LAST.partition] ? a[LAST.partition] > b[LAST.partition] : a[LAST.offset] > b[LAST.offset];
const priceOf = (row) => (row.last ? row.last[LAST.price] : null);

const state = {
  rows: new Map(),        // symbol -> {symbol, name, trades, shares, volume, last, change}
  sort: { key: "volume", direction: -1 },
  page: 0,
  pageSize: 50,
  filter: "",
  visible: new Map(),     // symbol -> <tr> on the current page
  open: new Map(),        // symbol -> drill-down state
  recent: [],             // [ms, trades] of recent deltas, for trades per second
  socket: null,
  backoff: 500,
  whaleQuantity: Infinity,  // from the snapshot: a trade of more shares is a whale
  alerts: new Map(),      // window_start -> max-volume alert
};

// ---- the feed ------------------------------------------------------------------------
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/live`);
  state.socket = socket;
  socket.onopen = () => {
    state.backoff = 500;
    setConnection(true);
    subscribe();
  };
  // Frames received, acknowledged about twice a second: the server closes a client
  // that falls too far behind (it then reconnects to a fresh snapshot).
  let received = 0, acknowledged = 0;
  const acks = setInterval(() => {
    if (received > acknowledged && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "ack", frames: received }));
      acknowledged = received;
    }
  }, ACK_EVERY_MS);
  socket.onmessage = (event) => { received += 1; receive(JSON.parse(event.data)); };
  socket.onclose = () => {
    clearInterval(acks);
    setConnection(false);
    setTimeout(connect, state.backoff);
    state.backoff = Math.min(state.backoff * 2, 10000);
  };
}

function setConnection(online) {
  const element = $("#connection");
  element.textContent = online ? "live" : "reconnecting";
  element.className = online ? "online" : "offline";
  document.body.dataset.feed = online ? "live" : "offline";
}

function subscribe() {
  if (state.socket?.readyState === WebSocket.OPEN) {
    state.socket.send(JSON.stringify({ type: "subscribe", symbols: [...state.open.keys()] }));
  }
}

function receive(message) {
  if (message.type === "snapshot") applySnapshot(message);
  else if (message.type === "delta") { applyDelta(message.symbols); applyWhales(message.whales || {}); }
  else if (message.type === "trades") liveTrades(message.symbol, message.trades);
  else if (message.type === "alerts") applyAlerts(message.alerts);
  else if (message.type === "status") $("#lag").textContent = `${NUMBER.format(message.lag)} (${message.workers} workers)`;
}

function applySnapshot(message) {
  const previous = state.rows;
  state.rows = new Map();
  state.whaleQuantity = message.whale_quantity;
  for (const [symbol, row] of Object.entries(message.symbols)) {
    state.rows.set(symbol, { symbol, name: row[ROW.name], trades: row[ROW.trades], shares: row[ROW.shares],
      volume: row[ROW.volume], last: row[ROW.last], whales: row[ROW.whales],
      change: previous.get(symbol)?.change ?? 0 });
  }
  document.body.dataset.snapshots = String(Number(document.body.dataset.snapshots || 0) + 1);
  render();
  applyAlerts(message.alerts || []);
}

// ---- max-volume alerts ---------------------------------------------------------------
const ALERTS_SHOWN = 10;

// "1234.56" -> 123456: the volume arrives as a decimal string, never a float.
const decimalCents = (text) => {
  const [units, fraction = ""] = text.split(".");
  return Number(units) * 100 + Number(fraction.padEnd(2, "0").slice(0, 2));
};

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
  $("#alert-feed").replaceChildren(...earlier.map((alert) => {
    const item = document.createElement("li");
    item.textContent = alertText(alert);
    return item;
  }));
  $("#alerts").hidden = false;
}

function applyDelta(symbols) {
  let trades = 0;
  for (const [symbol, totals] of Object.entries(symbols)) {
    let row = state.rows.get(symbol);
    if (!row) {
      row = { symbol, name: symbol, trades: 0, shares: 0, volume: 0, last: null, change: 0, whales: 0 };
      state.rows.set(symbol, row);
    }
    const last = totals[TOTALS.last];
    row.trades += totals[TOTALS.trades];
    row.shares += totals[TOTALS.shares];
    row.volume += totals[TOTALS.volume];
    trades += totals[TOTALS.trades];
    if (!row.last || later(last, row.last)) {
      const before = priceOf(row);
      row.last = last;
      const now = priceOf(row);
      if (before !== null && now !== before) row.change = now - before;
      updateRow(symbol, before === null ? 0 : Math.sign(now - before));
    } else {
      updateRow(symbol, 0);
    }
  }
  state.recent.push([Date.now(), trades]);
  updateSummary();
}

function applyWhales(whales) {
  for (const [symbol, count] of Object.entries(whales)) {
    const row = state.rows.get(symbol);
    if (!row) continue;
    row.whales += count;
    updateRow(symbol, 0);
  }
}

// ---- the table -----------------------------------------------------------------------
// The table's columns, once: header, cells, sort keys and the drill-down's width come from here.
// `text` fills a cell; `sort`, when given, makes the header a sort button.
const changeText = (r) => (r.change ? `${r.change > 0 ? "▲" : "▼"} ${money(Math.abs(r.change))}` : "");
const COLUMNS = [
  { key: "toggle", label: "Details", className: "toggle-cell", hiddenLabel: true },
  { key: "symbol", label: "Symbol", className: "symbol", text: (r) => r.symbol, sort: (r) => r.symbol },
  { key: "name", label: "Company", className: "name", text: (r) => r.name, sort: (r) => r.name.toLowerCase() },
  { key: "price", label: "Price", className: "price num", text: (r) => money(priceOf(r)), sort: (r) => priceOf(r) ?? -1 },
  { key: "change", label: "Change", className: "change num", text: changeText, sort: (r) => r.change,
    classes: (r) => (r.change > 0 ? "up" : r.change < 0 ? "down" : "") },
  { key: "trades", label: "Trades", className: "trades num", text: (r) => NUMBER.format(r.trades), sort: (r) => r.trades },
  { key: "shares", label: "Shares", className: "shares num", text: (r) => NUMBER.format(r.shares), sort: (r) => r.shares },
  { key: "volume", label: "Volume", className: "volume num", text: (r) => money(r.volume), sort: (r) => r.volume },
  { key: "time", label: "Last trade", className: "time", text: (r) => time(r.last?.[LAST.ms]),
    sort: (r) => (r.last ? r.last[LAST.ms] : 0) },
  { key: "whales", label: "Whales", className: "whales num", text: (r) => NUMBER.format(r.whales),
    sort: (r) => r.whales, title: "Trades above the whale size" },
];
const SORT_VALUES = Object.fromEntries(COLUMNS.filter((c) => c.sort).map((c) => [c.key, c.sort]));

function renderHeader() {
  const tr = $("#symbols thead tr");
  tr.replaceChildren(...COLUMNS.map((column) => {
    const th = document.createElement("th");
    th.scope = "col";
    if (column.className.includes("num")) th.className = "num";
    if (column.sort) {
      const button = Object.assign(document.createElement("button"), { type: "button", textContent: column.label });
      button.dataset.sort = column.key;
      if (column.title) button.title = column.title;
      th.append(button);
    } else {
      th.append(Object.assign(document.createElement("span"), { className: "visually-hidden", textContent: column.label }));
    }
    return th;
  }));
}

function selectedRows() {
  const filter = state.filter.toLowerCase();
  const rows = [...state.rows.values()].filter(
    (r) => !filter || r.symbol.toLowerCase().includes(filter) || r.name.toLowerCase().includes(filter));
  const value = SORT_VALUES[state.sort.key];
  const direction = state.sort.direction;
  rows.sort((a, b) => {
    const x = value(a), y = value(b);
    return (x < y ? -1 : x > y ? 1 : a.symbol < b.symbol ? -1 : 1) * direction;
  });
  return rows;
}

function render() {
  const rows = selectedRows();
  const pages = Math.max(1, Math.ceil(rows.length / state.pageSize));
  state.page = Math.min(state.page, pages - 1);
  const body = $("#symbols tbody");
  body.replaceChildren();
  state.visible.clear();
  for (const row of rows.slice(state.page * state.pageSize, (state.page + 1) * state.pageSize)) {
    const tr = rowElement(row);
    body.append(tr);
    state.visible.set(row.symbol, tr);
    if (state.open.has(row.symbol)) body.append(state.open.get(row.symbol).element);
  }
  $("#page-info").textContent = `page ${state.page + 1} of ${pages} (${NUMBER.format(rows.length)} symbols)`;
  for (const th of document.querySelectorAll("#symbols th")) {
    const key = th.querySelector("button")?.dataset.sort;
    th.setAttribute("aria-sort", key === state.sort.key ? (state.sort.direction > 0 ? "ascending" : "descending") : "none");
  }
  updateSummary();
}

function cell(className, text) {
  const td = document.createElement("td");
  td.className = className;
  td.textContent = text;
  return td;
}

function rowElement(row) {
  const tr = document.createElement("tr");
  tr.className = "symbol-row";
  tr.dataset.symbol = row.symbol;
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "toggle";
  toggle.setAttribute("aria-expanded", String(state.open.has(row.symbol)));
  toggle.setAttribute("aria-label", `Trades of ${row.symbol}`);
  toggle.textContent = state.open.has(row.symbol) ? "−" : "+";
  toggle.addEventListener("click", () => toggleDetail(row.symbol));
  tr.append(...COLUMNS.map((column) => cell(column.className, "")));
  tr.firstChild.append(toggle);
  fillRow(tr, row);
  return tr;
}

function fillRow(tr, row) {
  COLUMNS.forEach((column, i) => {
    if (column.text) tr.children[i].textContent = column.text(row);
    if (column.classes) tr.children[i].className = `${column.className} ${column.classes(row)}`.trim();
  });
}

function updateRow(symbol, direction) {
  const tr = state.visible.get(symbol);
  if (!tr) return;
  fillRow(tr, state.rows.get(symbol));
  if (direction) {
    tr.classList.remove("flash-up", "flash-down");
    void tr.offsetWidth;  // restart the flash if one is running
    tr.classList.add(direction > 0 ? "flash-up" : "flash-down");
    clearTimeout(tr.flashTimer);
    tr.flashTimer = setTimeout(() => tr.classList.remove("flash-up", "flash-down"), 1000);
  }
}

function updateSummary() {
  let trades = 0, volume = 0;
  for (const row of state.rows.values()) { trades += row.trades; volume += row.volume; }
  $("#total-trades").textContent = NUMBER.format(trades);
  $("#total-volume").textContent = money(volume);
  const since = Date.now() - 5000;
  state.recent = state.recent.filter(([at]) => at >= since);
  const perSecond = state.recent.reduce((sum, [, n]) => sum + n, 0) / 5;
  $("#trades-per-second").textContent = NUMBER.format(Math.round(perSecond));
}

// ---- the drill-down -------------------------------------------------------------------
function toggleDetail(symbol) {
  if (state.open.has(symbol)) {
    state.open.get(symbol).element.remove();
    state.open.delete(symbol);
  } else {
    state.open.set(symbol, openDetail(symbol));
  }
  render();
  subscribe();
}

function openDetail(symbol) {
  const element = document.createElement("tr");
  element.className = "detail";
  element.dataset.detailFor = symbol;
  const td = document.createElement("td");
  td.colSpan = COLUMNS.length;
  td.innerHTML = `<div class="detail-body">
      <div class="trades-scroll"><table><thead><tr><th>Trade</th><th>Time</th><th class="num">Price</th>
        <th class="num">Quantity</th><th class="num">Value</th></tr></thead><tbody></tbody></table></div>
      <svg class="chart" role="img" viewBox="0 0 600 240" preserveAspectRatio="none"></svg></div>`;
  element.append(td);
  const detail = { symbol, element, ids: new Set(), next: undefined, loading: false,
    body: td.querySelector("tbody"), scroller: td.querySelector(".trades-scroll"), chart: td.querySelector("svg") };
  detail.scroller.addEventListener("scroll", () => {
    const { scrollTop, scrollHeight, clientHeight } = detail.scroller;
    if (scrollTop + clientHeight > scrollHeight - 40) loadOlder(detail);
  });
  loadOlder(detail);
  loadCandles(detail);
  return detail;
}

async function loadOlder(detail) {
  if (detail.loading || detail.next === null) return;
  detail.loading = true;
  const cursor = detail.next ? `&before=${encodeURIComponent(detail.next)}` : "";
  try {
    const response = await fetch(`/api/symbols/${encodeURIComponent(detail.symbol)}/trades?limit=50${cursor}`);
    const page = await response.json();
    if (!response.ok) throw new Error(page.error);
    for (const trade of page.trades) addTrade(detail, trade, false);
    detail.next = page.next;
  } catch (failure) {
    console.warn(`trades of ${detail.symbol} not loaded: ${failure.message}`);  // scrolling again retries
  } finally {
    detail.loading = false;
  }
}

function tradeRow(trade, fresh) {
  const id = trade[TRADE.id], ms = trade[TRADE.ms], price = trade[TRADE.price], quantity = trade[TRADE.quantity];
  const tr = document.createElement("tr");
  tr.dataset.tradeId = id;
  tr.dataset.ms = String(ms);
  tr.className = [fresh ? "new" : "", quantity > state.whaleQuantity ? "whale" : ""].join(" ").trim();
  const size = cell("num", NUMBER.format(quantity));
  if (quantity > state.whaleQuantity) size.prepend(Object.assign(document.createElement("span"),
    { className: "whale-badge", textContent: "WHALE", title: `more than ${NUMBER.format(state.whaleQuantity)} shares` }));
  tr.append(cell("", id.slice(0, 8)), cell("", time(ms)), cell("num", money(price)), size,
    cell("num", money(price * quantity)));
  return tr;
}

function addTrade(detail, trade, atTop) {
  if (detail.ids.has(trade[TRADE.id])) return;
  detail.ids.add(trade[TRADE.id]);
  const tr = tradeRow(trade, atTop);
  if (atTop) detail.body.prepend(tr); else detail.body.append(tr);
}

function liveTrades(symbol, trades) {
  const detail = state.open.get(symbol);
  if (!detail) return;
  // Newest first from the server: add the oldest unseen first so the newest ends on top.
  for (const trade of [...trades].reverse()) addTrade(detail, trade, true);
  if (!detail.candleTimer) {
    detail.candleTimer = setTimeout(() => { detail.candleTimer = null; loadCandles(detail); }, 2000);
  }
}

async function loadCandles(detail) {
  try {
    const response = await fetch(`/api/symbols/${encodeURIComponent(detail.symbol)}/candles?minutes=60`);
    if (!response.ok) return;
    drawCandles(detail.chart, (await response.json()).candles);
  } catch (failure) {
    console.warn(`candles of ${detail.symbol} not loaded: ${failure.message}`);  // the next trades reload them
  }
}

function drawCandles(svg, candles) {
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  if (!candles.length) return;
  const highs = candles.map((c) => c[CANDLE.high]), lows = candles.map((c) => c[CANDLE.low]);
  const top = Math.max(...highs), bottom = Math.min(...lows), span = Math.max(1, top - bottom);
  const width = 600 / Math.max(candles.length, 20);
  const y = (cents) => 230 - ((cents - bottom) / span) * 220;
  candles.forEach((candle, i) => {
    const open = candle[CANDLE.open], high = candle[CANDLE.high], low = candle[CANDLE.low], close = candle[CANDLE.close];
    const x = i * width + width / 2;
    const wick = document.createElementNS(ns, "line");
    Object.entries({ x1: x, x2: x, y1: y(high), y2: y(low), stroke: "#555" }).forEach(([k, v]) => wick.setAttribute(k, v));
    const body = document.createElementNS(ns, "rect");
    Object.entries({ x: x - width * 0.35, width: width * 0.7, y: y(Math.max(open, close)),
      height: Math.max(1, Math.abs(y(open) - y(close))), fill: close >= open ? "#1b873f" : "#c62828" })
      .forEach(([k, v]) => body.setAttribute(k, v));
    svg.append(wick, body);
  });
  svg.setAttribute("aria-label", `${candles.length} one-minute candles`);
}

// ---- the SQL panel ---------------------------------------------------------------------
async function runSql() {
  const error = $("#sql-error"), result = $("#sql-result");
  error.hidden = true;
  result.replaceChildren();
  let answer;
  try {
    const response = await fetch("/api/sql", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ sql: $("#sql").value }),
    });
    answer = await response.json().catch(() => ({ error: `the server answered ${response.status}` }));
    if (!response.ok) throw new Error(answer.error);
  } catch (failure) {
    error.textContent = failure.message;  // ClickHouse's reason or ours, in one line
    error.hidden = false;
    return;
  }
  const table = document.createElement("table");
  const head = document.createElement("tr");
  for (const name of answer.columns) { const th = document.createElement("th"); th.textContent = name; head.append(th); }
  table.append(head);
  for (const values of answer.rows) {
    const tr = document.createElement("tr");
    for (const value of values) tr.append(cell("", value === null ? "NULL" : String(value)));
    table.append(tr);
  }
  const note = document.createElement("p");
  note.textContent = `${answer.rows.length} rows in ${answer.elapsed_ms} ms`;
  result.append(table, note);
}

function csrfToken() {
  return document.cookie.split("; ").find((c) => c.startsWith("csrftoken="))?.split("=")[1] ?? "";
}

// ---- controls ----------------------------------------------------------------------------
function setUp() {
  renderHeader();
  $("#search").addEventListener("input", (event) => { state.filter = event.target.value.trim(); state.page = 0; render(); });
  $("#page-size").addEventListener("change", (event) => { state.pageSize = Number(event.target.value); state.page = 0; render(); });
  $("#prev-page").addEventListener("click", () => { state.page = Math.max(0, state.page - 1); render(); });
  $("#next-page").addEventListener("click", () => { state.page += 1; render(); });
  for (const button of document.querySelectorAll("#symbols th button")) {
    button.addEventListener("click", () => {
      const key = button.dataset.sort;
      state.sort = { key, direction: state.sort.key === key ? -state.sort.direction : (key === "symbol" || key === "name" ? 1 : -1) };
      render();
    });
  }
  $("#run-sql")?.addEventListener("click", runSql);  // absent when the panel is not open to this viewer
  setInterval(updateSummary, 1000);
  connect();
}

setUp();
