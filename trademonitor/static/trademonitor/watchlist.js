// The starred symbols: in the browser for anonymous visitors (localStorage), on the
// server for logged-in users (/api/watchlist, the same access rules as the rest of the API).

import { csrfToken } from "./http.js";

const KEY = "trademonitor.watchlist";

export async function openWatchlist(onServer) {
  const symbols = new Set(onServer ? await serverList() : JSON.parse(localStorage.getItem(KEY) ?? "[]"));
  return {
    symbols,
    has: (symbol) => symbols.has(symbol),
    async toggle(symbol) {
      const starring = !symbols.has(symbol);
      if (onServer) {
        const response = await fetch(`/api/watchlist/${encodeURIComponent(symbol)}`,
          { method: starring ? "PUT" : "DELETE", headers: { "X-CSRFToken": csrfToken() } });
        const answer = await response.json();
        if (!response.ok) throw new Error(answer.error);
        symbols.clear();
        for (const s of answer.symbols) symbols.add(s);
      } else {
        if (starring) symbols.add(symbol); else symbols.delete(symbol);
        localStorage.setItem(KEY, JSON.stringify([...symbols].sort()));
      }
      return symbols.has(symbol);
    },
  };
}

async function serverList() {
  const response = await fetch("/api/watchlist");
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error);
  return answer.symbols;
}
