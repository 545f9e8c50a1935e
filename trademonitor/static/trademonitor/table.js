// The symbols table: its columns, once (header, cells, sort keys and the drill-down's width
// come from here), and rows kept as elements so an update or a re-sort moves a row
// without restarting its flash.

import { money, NUMBER, time } from "./format.js";

/** The columns for the wire layout `layout` (contract.Last's indexes). `text` fills a cell and
 * `hint` its tooltip; `sort`, when given, makes the header a sort button. */
export function makeColumns(LAST) {
  const priceOf = (row) => (row.last ? row.last[LAST.price] : null);
  const changeText = (r) => (r.change ? `${r.change > 0 ? "▲" : "▼"} ${money(Math.abs(r.change))}` : "");
  return [
    { key: "toggle", label: "Details", className: "toggle-cell" },
    { key: "star", label: "Watchlist", className: "star-cell" },
    { key: "symbol", label: "Symbol", className: "symbol", text: (r) => r.symbol, sort: (r) => r.symbol },
    { key: "name", label: "Company", className: "name", text: (r) => r.name, sort: (r) => r.name.toLowerCase(),
      hint: (r) => r.name },  // the whole name on hover: a narrow window cuts it short
    { key: "price", label: "Price", className: "price num", text: (r) => money(priceOf(r)), sort: (r) => priceOf(r) ?? -1 },
    { key: "change", label: "Change", className: "change num", text: changeText, sort: (r) => r.change,
      classes: (r) => (r.change > 0 ? "up" : r.change < 0 ? "down" : "") },
    { key: "trades", label: "Trades", className: "trades num", text: (r) => NUMBER.format(r.trades), sort: (r) => r.trades },
    { key: "shares", label: "Shares", className: "shares num", text: (r) => NUMBER.format(r.shares), sort: (r) => r.shares },
    { key: "volume", label: "Volume", className: "volume num", text: (r) => money(r.volume), sort: (r) => r.volume },
    { key: "time", label: "Last trade (UTC)", className: "time", text: (r) => time(r.last?.[LAST.ms]),
      sort: (r) => (r.last ? r.last[LAST.ms] : 0) },
    { key: "whales", label: "Whales", className: "whales num", text: (r) => NUMBER.format(r.whales),
      sort: (r) => r.whales, title: "Trades above the whale size" },
  ];
}

export function renderHeader(tr, columns, onSort) {
  tr.replaceChildren(...columns.map((column) => {
    const th = document.createElement("th");
    th.scope = "col";
    th.className = column.className;  // as its cells: the narrow layouts hide a column by its class
    if (column.sort) {
      const button = Object.assign(document.createElement("button"), { type: "button", textContent: column.label });
      button.dataset.sort = column.key;
      if (column.title) button.title = column.title;
      button.addEventListener("click", () => onSort(column.key));
      th.append(button);
    } else {
      th.append(Object.assign(document.createElement("span"), { className: "visually-hidden", textContent: column.label }));
    }
    return th;
  }));
}

export function showSort(tr, sort) {
  for (const th of tr.children) {
    const key = th.querySelector("button")?.dataset.sort;
    if (key) th.setAttribute("aria-sort", key === sort.key ? (sort.direction > 0 ? "ascending" : "descending") : "none");
  }
}

/** A row's element: a drill-down toggle, a star, and one cell per column. */
export function rowElement(row, columns, { open, starred, onToggle, onStar }) {
  const tr = document.createElement("tr");
  tr.className = "symbol-row";
  tr.dataset.symbol = row.symbol;
  tr.tabIndex = -1;
  tr.append(...columns.map((column) => Object.assign(document.createElement("td"), { className: column.className })));
  const toggle = Object.assign(document.createElement("button"), { type: "button", className: "toggle" });
  toggle.setAttribute("aria-label", `Trades of ${row.symbol}`);
  toggle.addEventListener("click", () => onToggle(row.symbol));
  const star = Object.assign(document.createElement("button"), { type: "button", className: "star" });
  star.setAttribute("aria-label", `Watch ${row.symbol}`);
  star.addEventListener("click", () => onStar(row.symbol));
  tr.children[columns.findIndex((c) => c.key === "toggle")].append(toggle);
  tr.children[columns.findIndex((c) => c.key === "star")].append(star);
  showOpen(tr, open);
  showStarred(tr, starred);
  fillRow(tr, row, columns);
  return tr;
}

export function showOpen(tr, open) {
  const toggle = tr.querySelector("button.toggle");
  toggle.setAttribute("aria-expanded", String(open));
  toggle.textContent = open ? "−" : "+";
}

export function showStarred(tr, starred) {
  const star = tr.querySelector("button.star");
  star.setAttribute("aria-pressed", String(starred));
  star.textContent = starred ? "★" : "☆";
}

export function fillRow(tr, row, columns) {
  columns.forEach((column, i) => {
    if (column.text) tr.children[i].textContent = column.text(row);
    if (column.hint) tr.children[i].title = column.hint(row);
    if (column.classes) tr.children[i].className = `${column.className} ${column.classes(row)}`.trim();
  });
}

/** `elements` in `body`, in order, moving only those out of place: a row that stays keeps its
 * flash and its focus, and one that moves gets its focus back. */
export function placeRows(body, elements) {
  const focused = document.activeElement;
  elements.forEach((element, i) => {
    if (body.children[i] !== element) body.insertBefore(element, body.children[i] ?? null);
  });
  while (body.children.length > elements.length) body.lastElementChild.remove();
  if (focused !== document.activeElement && body.contains(focused)) focused.focus({ preventScroll: true });
}

/** Restarts the row's flash: green for a rise, red for a fall. */
export function flash(tr, direction) {
  tr.classList.remove("flash-up", "flash-down");
  void tr.offsetWidth;  // restart the flash if one is running
  tr.classList.add(direction > 0 ? "flash-up" : "flash-down");
  clearTimeout(tr.flashTimer);
  tr.flashTimer = setTimeout(() => tr.classList.remove("flash-up", "flash-down"), 1000);
}
