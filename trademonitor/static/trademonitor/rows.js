// Which symbols the table shows, in what order, and their totals. Pure: tested by tests/js/.

/** Rows matching `filter` (symbol or name, any case) and, when given, only those in `only`. */
export function matching(rows, filter, only = null) {
  const text = filter.toLowerCase();
  return rows.filter((r) => (!only || only.has(r.symbol))
    && (!text || r.symbol.toLowerCase().includes(text) || r.name.toLowerCase().includes(text)));
}

/** Sorted by `value` in `direction` (1 up, -1 down); ties by symbol, so the order is total and stable. */
export function sorted(rows, value, direction) {
  return [...rows].sort((a, b) => {
    const x = value(a), y = value(b);
    return (x < y ? -1 : x > y ? 1 : a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0) * direction;
  });
}

/** Trades and volume (cents) summed over `rows`. */
export function totals(rows) {
  let trades = 0, volume = 0;
  for (const row of rows) { trades += row.trades; volume += row.volume; }
  return { trades, volume };
}
