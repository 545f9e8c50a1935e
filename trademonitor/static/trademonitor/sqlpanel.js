// The SQL panel: a visitor's query, run by the server as the panel's locked-down ClickHouse
// user; the result as a table, and as a CSV file on request (values as the server sent them:
// decimals are text, so money stays exact).

import { csrfToken, download } from "./http.js";
import { toCsv } from "./format.js";

export function setUpSqlPanel($) {
  const run = $("#run-sql");
  if (!run) return;  // the panel is not open to this viewer
  let last = null;
  const save = $("#download-sql");
  run.addEventListener("click", async () => {
    const error = $("#sql-error"), result = $("#sql-result");
    error.hidden = true;
    save.hidden = true;
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
    last = answer;
    result.append(resultTable(answer), Object.assign(document.createElement("p"),
      { textContent: `${answer.rows.length} rows in ${answer.elapsed_ms} ms` }));
    save.hidden = false;
  });
  save.addEventListener("click", () => {
    if (last) download("query-result.csv", toCsv(last.columns, last.rows.map((row) => row.map((v) => v ?? ""))));
  });
}

function resultTable(answer) {
  const table = document.createElement("table");
  const head = document.createElement("tr");
  for (const name of answer.columns) head.append(Object.assign(document.createElement("th"), { textContent: name, scope: "col" }));
  table.append(head);
  for (const values of answer.rows) {
    const tr = document.createElement("tr");
    for (const value of values) tr.append(Object.assign(document.createElement("td"),
      { textContent: value === null ? "NULL" : String(value) }));
    table.append(tr);
  }
  return table;
}
