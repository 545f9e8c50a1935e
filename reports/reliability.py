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
dashboard WebSocket clients, and breaks one thing while it runs. Then it checks:
trades stored = produced, `count(distinct id)` = count, `totals_check()` empty,
every bad message in `trades.dlq` (by source partition and offset), and every
dashboard client showing ClickHouse's totals. *Recover* is the time from the end of
a fault until ClickHouse's trade count grew again (for daphne: until all clients
had a fresh snapshot).

Machine: {machine}.

"""

COLUMNS = ("scenario", "size", "faults", "produced", "stored", "lost", "duplicated", "totals_differences",
           "bad_sent", "dead_lettered", "clients", "clients_exact", "clients_converged_s", "recover_s_median",
           "recover_s_max", "elapsed_s")
TITLES = ("Scenario", "Faults", "Count", "Trades produced", "Stored", "Lost", "Duplicated", "Totals differing",
          "Bad sent", "Dead-lettered", "Clients", "Clients exact", "Clients converged (s)", "Recover median (s)",
          "Recover max (s)", "Elapsed (s)")


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
              or run["dead_lettered"] != run["bad_sent"]]
    verdict = ("\nEvery scenario: nothing lost, nothing duplicated, totals exact, every dead letter there, "
               "every client exact.\n" if not failed else f"\n**Failed:** {', '.join(failed)}.\n")
    machine = f"{platform.system()} {platform.machine()}, {_cores()} cores, Python {platform.python_version()}"
    size = f"{runs[0]['produced']:,} trades and {runs[0]['bad_sent']} bad messages" if runs else "trades"
    return HEADER.format(source=results.name, size=size, machine=machine) + "\n".join(lines) + "\n" + verdict


def _cell(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, int):
        return f"{value:,}"
    return "–" if value is None else str(value)


def _cores() -> int:
    import os

    return os.cpu_count() or 1
