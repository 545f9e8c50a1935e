"""RELIABILITY.md from the fault-injection suite's own output (tests/test_faults.py
appends one JSON line per scenario run)."""

from __future__ import annotations

import json
import platform
from pathlib import Path

HEADER = """# Reliability

What the fault-injection suite (`pytest -m faults`, part of `make test`) did to a
running system, and what came of it. Regenerate with `make faults-report`, which
runs the suite and rewrites this file from its output (`{source}`).

Every scenario replays {size} through `runworkers --processes 2`, daphne and
dashboard WebSocket clients, and breaks one thing while it runs. Each fault is proved
(the process was alive and then gone; the service answered, stopped answering and
answered again; ClickHouse answered the inserts whose answers were lost). Then it
checks against what the producer sent: trades stored = produced, no duplicate id, the
stored ids and per-symbol trades, shares and volume equal to what was sent,
`totals_check()` and `candles_check()` empty (the views' tables agree with `trades`;
*Totals differing* counts their symbols and minutes), every bad message in `trades.dlq`
(by source partition and offset), and every dashboard client showing the producer's
totals. *Recover* is the
time from the end of a fault until what it broke works again: every Kafka partition's
stored position has advanced (a killed worker's partitions among them); for Redis,
every dashboard received a delta again; for daphne, every client had a fresh snapshot.
The method is the docstring of `tests/test_faults.py`; every row names the commit it
ran on.

Machine: {machine}.

"""

COLUMNS = ("scenario", "size", "faults", "produced", "stored", "lost", "duplicated", "totals_differences",
           "bad_sent", "dead_lettered", "clients", "clients_exact", "clients_converged_s", "recover_s_median",
           "recover_s_max", "elapsed_s", "commit")
TITLES = ("Scenario", "Faults", "Count", "Trades produced", "Stored", "Lost", "Duplicated", "Totals differing",
          "Bad sent", "Dead-lettered", "Clients", "Clients exact", "Clients converged (s)", "Recover median (s)",
          "Recover max (s)", "Elapsed (s)", "Commit")


def render(results: Path) -> str:
    runs = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    latest = {}
    for run in runs:  # the last run of each scenario
        latest[run["scenario"]] = run
    lines = ["| " + " | ".join(TITLES) + " |", "|" + "---|" * len(TITLES)]
    for run in latest.values():
        lines.append("| " + " | ".join(_cell(run.get(column)) for column in COLUMNS) + " |")
    failed = [run["scenario"] for run in latest.values()
              if run["lost"] or run["duplicated"] or run["totals_differences"] or not run["clients_exact"]
              or run["dead_lettered"] != run["bad_sent"] or not run.get("stored_equals_sent", False)]
    verdict = ("\nEvery scenario: nothing lost, nothing duplicated, totals exact, every dead letter there, "
               "every client exact.\n" if not failed else f"\n**Failed:** {', '.join(failed)}.\n")
    machine = f"{platform.system()} {platform.machine()}, {_cores()} cores, Python {platform.python_version()}"
    size = f"{runs[0]['produced']:,} trades and {runs[0]['bad_sent']} bad messages" if runs else "trades"
    return HEADER.format(source=results.name, size=size, machine=machine) + "\n".join(lines) + "\n" + verdict


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, int):
        return f"{value:,}"
    return "–" if value is None else str(value)


def _cores() -> int:
    import os

    return os.cpu_count() or 1
