"""`bench soak`: the whole system for a long while at a steady rate, watching for leaks.

Runs producer → Kafka → `runworkers` (ingest, sentiment, alerts) → ClickHouse →
daphne with many WebSocket clients, and samples the resident memory (RSS) and
open file descriptors of the supervisor, every worker and daphne: once after a
warm-up (a tenth of the run, at most a minute: imports, caches and buffers fill
up first, see `_warm_up`) and once at the end; the process that grew most is named.
Then checks that what was stored is exactly what was sent. `make bench` does not run
it (ten minutes): run `python manage.py bench soak --minutes 10 --rate 5000 --clients 50 --json`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path

from clickhouse_connect.driver.client import Client

from benchmarks.clients import ClientFleet
from benchmarks.system import Stream, run_system
from clickhouse import queries
from harness.tally import Tally, stored_count

logger = logging.getLogger(__name__)


def run(minutes: float, rate: int, clients: int) -> dict:
    seconds = minutes * 60
    stream = Stream(f"bench-soak-{uuid.uuid4().hex[:8]}", rate, seconds, record=False, tally=True)
    figures: dict = {"minutes": minutes, "rate": rate, "clients": clients}

    def listen(url: str, stream: Stream, writer: Client, processes: dict[str, int]) -> None:
        fleet = ClientFleet(url, clients)
        producer = threading.Thread(target=stream.run, daemon=True)
        producer.start()
        _warm_up(writer, seconds)
        start = sample(processes)
        producer.join()
        deadline = time.monotonic() + 300
        while stored_count(writer) < stream.sent and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(3)  # the last updates reach the clients
        end = sample(processes)
        told = fleet.stop()
        figures.update(_compare(start, end))
        # Client by client; no per-trade ages here (ten minutes of every update's counts
        # would not fit the clients' memory): `bench fanout` and `bench latency` time trades.
        figures["delivery"] = told.figures(stream.sent)
        # Exact against what was sent: ids, per-symbol trades, shares and volume (harness/tally.py).
        stored = Tally.stored(writer)
        assert stream.tally is not None  # the stream was made with tally=True
        differences = stream.tally.differences(stored) + [
            f"symbol_totals differs from trades for {d['symbol']}" for d in queries.totals_check(writer)]
        figures.update({"sent": stream.sent, "stored": stored.count, "distinct_ids": stored.distinct_ids,
                        "exact": not differences, "differences": differences[:10]})

    run_system(stream, listen, with_processes=True,
               settings_environment={"ALERTS_WINDOW_MINUTES": "1", "ALERTS_LATENESS_SECONDS": "10"})
    return figures


def _warm_up(writer: Client, seconds: float) -> None:
    """Until imports, caches, buffers and connections have filled up: a tenth of the run
    (at most a minute), and the alerts job's first alert stored (its first opens the Django
    database, a file descriptor that is then kept). Alerts come every minute in the soak,
    five times as often as by default, so that their path is exercised ten times."""
    time.sleep(min(60.0, seconds / 10))
    deadline = time.monotonic() + 180
    while writer.command("SELECT count() FROM volume_alerts") == 0 and time.monotonic() < deadline:
        time.sleep(1)


def sample(processes: dict[str, int]) -> dict[str, tuple[float, int]]:
    """name -> (RSS in MB, open file descriptors) of each watched process alive now."""
    figures = {}
    for name, pid in processes.items():
        try:
            rss_kb = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                          if line.startswith("VmRSS:"))
            figures[name] = (round(rss_kb / 1024, 1), len(list(Path(f"/proc/{pid}/fd").iterdir())))
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return figures


def _compare(start: dict, end: dict) -> dict:
    processes = {}
    for name in start.keys() & end.keys():
        (rss_start, fds_start), (rss_end, fds_end) = start[name], end[name]
        processes[name] = {"rss_mb_start": rss_start, "rss_mb_end": rss_end,
                           "rss_growth": round(rss_end / rss_start - 1, 3), "fds_start": fds_start, "fds_end": fds_end}
    # The worst process, named: a sum or an average could hide one that grows.
    rss_worst = max(processes, key=lambda name: processes[name]["rss_growth"], default=None)
    fds_worst = max(processes, key=lambda name: processes[name]["fds_end"] - processes[name]["fds_start"],
                    default=None)
    return {
        "processes": processes,
        "max_rss_growth": processes[rss_worst]["rss_growth"] if rss_worst else None,
        "max_rss_growth_process": rss_worst,
        "fd_growth": processes[fds_worst]["fds_end"] - processes[fds_worst]["fds_start"] if fds_worst else None,
        "fd_growth_process": fds_worst,
        "replaced": sorted(start.keys() ^ end.keys()),  # a process that died and came back
    }
