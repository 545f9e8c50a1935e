"""`make bench`: run the benchmarks at their documented sizes, keep their figures as
JSON under docs/benchmarks/, and write BENCHMARKS.md with plots from them.

The seed's published figure is 10,000,000 trades in 20 s on 48 cores: 500,000
trades a second, 10,417 a core. Ours are shown per core too, for the comparison.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import os
import platform
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from harness.provenance import measured
from trademonitor.hub import DRILLDOWN_FRAME_TRADES

logger = logging.getLogger(__name__)

SEED_TRADES_PER_S_PER_CORE = 10_000_000 / 20 / 48

AddRow = Callable[..., None]  # render's row(): one figure of a benchmark's JSON

FANOUT_CLIENTS = (100, 300, 400, 500)
# A drill-down's rows: drilldown.js MAX_TRADE_ROWS, passed by at most one live frame before it starts again.
DRILL_DOWN_ROWS_CAP = 1_000 + DRILLDOWN_FRAME_TRADES

# file name: (benchmark function, its arguments) — the documented sizes.
SUITE = {
    # The topic has 3 partitions: 3 processes read one each; of 2, one reads two and finishes last.
    "ingest": ("ingest.run", {"trades": 10_000_000, "processes": 3}),
    "ingest-10m-2-processes": ("ingest.run", {"trades": 10_000_000, "processes": 2}),
    "ingest-1-process": ("ingest.run", {"trades": 2_000_000, "processes": 1}),
    "ingest-2-processes": ("ingest.run", {"trades": 2_000_000, "processes": 2}),
    "ingest-3-processes": ("ingest.run", {"trades": 2_000_000, "processes": 3}),
    "query": ("query.run", {"trades": 10_000_000}),
    "latency-300": ("live.latency", {"rate": 300, "seconds": 30}),
    "latency-2000": ("live.latency", {"rate": 2000, "seconds": 30}),
    "latency-5000": ("live.latency", {"rate": 5000, "seconds": 30}),
    "latency-20000": ("live.latency", {"rate": 20000, "seconds": 30}),
    "fanout": ("live.fanout", {"clients": 200, "rate": 5000, "seconds": 30}),
    # The fan-out curve: the largest count at which every client gets everything, on time.
    **{f"fanout-{n}": ("live.fanout", {"clients": n, "rate": 5000, "seconds": 30}) for n in FANOUT_CLIENTS},
    "snapshot": ("live.snapshot", {"trades": 10_000_000, "clients": 50, "rounds": 10}),
    "query-ingesting": ("query.run", {"trades": 10_000_000, "ingest_rate": 5000}),
    # Through daphne, the whole system running: the page kept in memory, and read from ClickHouse as before.
    "firstpage": ("live.firstpage", {"trades": 10_000_000, "rate": 5000, "seconds": 30, "checked": 300,
                                     "clickhouse": 0}),
    "firstpage-clickhouse": ("live.firstpage", {"trades": 10_000_000, "rate": 5000, "seconds": 30, "checked": 300,
                                                "clickhouse": 1}),
    "slowclients": ("live.slowclients", {"clients": 30, "rate": 5000, "seconds": 300}),
    "codec": ("codec.run", {"rows": 5000, "batches": 200}),
    "export": ("export.run", {"trades": 1_100_000}),
}


# Figures whose runs fall on both sides of their goal: each is published from the worst of
# several runs, with every run's value beside it, so that one lucky run cannot read as a goal
# met. name: (runs, the figure that decides the worst).
WORST_OF = {"query-ingesting": (3, "drilldown_p99_ms"), "firstpage": (3, "socket_p99_ms")}


def run_suite(directory: Path, only: list[str] | None = None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, (function, arguments) in SUITE.items():
        if only and name not in only:
            continue
        module, _, attribute = function.partition(".")
        run = getattr(importlib.import_module(f"benchmarks.{module}"), attribute)
        runs, key = WORST_OF.get(name, (1, ""))
        results = []
        for number in range(1, runs + 1):
            logger.info("bench %s %s, run %d of %d", name, arguments, number, runs)
            results.append(measured(functools.partial(run, **arguments)))
        figures = worst_of(results, key) if key else results[0]
        (directory / f"{name}.json").write_text(json.dumps(figures, indent=1) + "\n")
        logger.info("%s: %s", name, figures)


def worst_of(results: list[dict], key: str) -> dict:
    """The run with the highest `key`, with every run's `key` in `<key>_runs`, in run order."""
    worst = max(results, key=lambda figures: figures[key])
    return {**worst, f"{key}_runs": [figures[key] for figures in results]}


def _where_the_time_went(row: AddRow, figures: dict, where: str) -> None:
    """A row of the stages a trade's latency splits into (benchmarks/clients.TradeTimer), if measured."""
    stages = [key[:-len("_p50_ms")] for key in figures
              if key.endswith("_p50_ms") and key not in ("p50_ms", "age_p50_ms")]
    if stages:
        row(figures, f"… where the time went {where}, p50 / p99 ms: " + ", ".join(stages),
            " · ".join(f"{figures[f'{stage}_p50_ms']} / {figures[f'{stage}_p99_ms']}" for stage in stages), "–", None)


def _delivery(delivery: dict) -> tuple[str, str, bool]:
    """(measured, goal, met) of a run with a fleet of clients (benchmarks/clients.Told.figures):
    client by client, never a sum that lets one client's repeats hide another's losses."""
    clients = delivery["clients_told_everything"] + delivery["clients_missing"] + delivery["clients_repeating"]
    ages = (f"; per trade, p99 {delivery['age_p99_ms']} ms, worst client's p99 {delivery['worst_client_age_p99_ms']} ms"
            if delivery.get("age_p99_ms") is not None else "")
    return (f"{delivery['clients_told_everything']} of {clients} clients told of all {delivery['sent']:,} trades "
            f"({delivery['clients_missing']} missing some, {delivery['clients_repeating']} repeating; lowest "
            f"{delivery['min_client_delivered']:,}){ages}, {delivery['reconnections']} reconnections",
            "every client, every trade", delivery["clients_told_everything"] == clients)


# Measurements behind design choices, kept by hand: the code's comments point to them.
DESIGN_NOTES = Path(__file__).resolve().parent.parent / "docs" / "benchmarks" / "design.md"


def _load(directory: Path, name: str) -> dict | None:
    path = directory / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _commit(figures: dict | None) -> str:
    """The commit a figure was measured on (figures from before commits were recorded: unknown)."""
    if not figures or not figures.get("commit"):
        return "not recorded"
    speed = figures.get("machine_ms")
    return f"`{figures['commit']}`" + (f" (machine {speed[0]} / {speed[1]} ms)" if speed else "")


def render(directory: Path) -> str:
    """BENCHMARKS.md from whatever figures are in `directory` (plots written beside them)."""
    rows: list[str] = []

    def row(source: dict, figure: str, value: object, goal: str, met: bool | None, seed: str = "not published") -> None:
        """One figure of `source` (a benchmark's JSON), with the commit it was measured on."""
        verdict = "" if met is None else ("met" if met else "**missed**")
        value = ("yes" if value else "**no**") if isinstance(value, bool) else value
        rows.append(f"| {figure} | {value} | {goal} | {verdict} | {seed} | {_commit(source)} |")

    for section in SECTIONS:
        section(directory, row)

    cores = os.cpu_count() or 1
    plots = [plot for plot in (_ingest_plot(directory), _latency_plot(directory)) if plot]
    machine = (f"{platform.system()} {platform.machine()}, {cores} cores, "
               f"{_memory_gib():.0f} GiB, Python {platform.python_version()}; Kafka, the ClickHouse endpoint (chdb), "
               "Redis and the benchmark on the same cores")
    return "\n".join([
        "# Benchmarks",
        "",
        "Measured by `make bench`, except the soak (ten minutes: `python manage.py bench soak --minutes 10 "
        "--rate 5000 --clients 50 --json > docs/benchmarks/soak.json`) and the page kept open (fifteen: "
        "`python manage.py bench page --minutes 15 --rate 5000 --drilldowns 5 --json > docs/benchmarks/page.json`). "
        "The figures are the JSON files in "
        "`docs/benchmarks/`; `python manage.py report benchmarks` rewrites this page from them; every method "
        "is described in the docstring of its module in `benchmarks/`. "
        "The seed's published figure: 10,000,000 trades in 20 s on 48 cores, "
        f"{SEED_TRADES_PER_S_PER_CORE:,.0f} trades a second a core.",
        "",
        f"Machine: {machine}. Its speed changes by up to twice over a day (it shares its host): "
        "\"machine\" beside a commit is how long a fixed Python loop (`sum(range(10_000_000))`, the best of "
        "three) took just before and just after the benchmark (`harness/provenance.py`); compare figures "
        "measured at different speeds with that in mind.",
        "",
        "| figure | measured | goal | | seed, per core | commit |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        *(f"![{title}]({path})\n" for title, path in plots),
        *([DESIGN_NOTES.read_text()] if DESIGN_NOTES.exists() else []),
    ])


def _replay_rows(directory: Path, row: AddRow) -> None:
    """The replays of 10,000,000 trades, beside the seed's time for as many at its rate a core."""
    cores = os.cpu_count() or 1
    for name in ("ingest", "ingest-10m-2-processes"):
        replay = _load(directory, name)
        if replay:
            seed_seconds = replay["trades"] / (SEED_TRADES_PER_S_PER_CORE * cores)
            row(replay, f"ingest replay of {replay['trades']:,} trades, {replay['processes']} processes",
                f"{replay['seconds']} s", "≤ 100 s", replay["seconds"] <= 100 and replay["exact"],
                f"{seed_seconds:.0f} s on {cores} cores at its rate a core")


def _ingest_rows(directory: Path, row: AddRow) -> None:
    """Ingest throughput a core against the seed's, and whether what was stored is what was sent."""
    cores = os.cpu_count() or 1
    ingest = _load(directory, "ingest")
    if ingest:
        per_core = ingest["trades_per_s"] / cores
        row(ingest, "ingest throughput", f"{ingest['trades_per_s']:,}/s ({per_core:,.0f}/s a core)", "≥ 100,000/s",
            ingest["trades_per_s"] >= 100_000,
            f"{SEED_TRADES_PER_S_PER_CORE:,.0f}/s a core ({per_core / SEED_TRADES_PER_S_PER_CORE:.1f}×)")
        row(ingest, "ingest stored exactly what was sent (ids, per-symbol trades, shares, volume) and totals agree",
            ingest["exact"], "exact", ingest["exact"])


def _query_rows(directory: Path, row: AddRow) -> None:
    """`bench query`: the drill-down page, the snapshot and an alert's window, read from ClickHouse."""
    query = _load(directory, "query")
    if query:
        row(query, f"drill-down page on {query['trades']:,} trades, p99", f"{query['drilldown_p99_ms']} ms", "≤ 30 ms",
            query["drilldown_p99_ms"] <= 30)
        row(query, "dashboard snapshot (3,000 symbols), p99", f"{query['snapshot_p99_ms']} ms", "≤ 50 ms",
            query["snapshot_p99_ms"] <= 50)
        row(query, "totals equal a recount of the trades", query["totals_exact"], "exact", query["totals_exact"])
        if "alert_window_p99_ms" in query:
            row(query, "max-volume alert of one 5-minute window (from candles_1m), p99 / a day of windows",
                f"{query['alert_window_p99_ms']} / {query['alert_day_of_windows_ms']} ms", "–", None)


def _latency_rows(directory: Path, row: AddRow) -> None:
    """Trade → browser at each rate, and where the time went."""
    for rate, goal in ((300, 150), (2000, None), (5000, 500), (20000, 1000)):
        latency = _load(directory, f"latency-{rate}")
        if latency:
            exact = "p90_ms" in latency  # measured per trade (pinned partitions), not by pairing
            figures = (f"{latency['p50_ms']} / {latency['p90_ms']} / {latency['p99_ms']} / {latency['max_ms']} ms"
                       if exact else f"{latency['p50_ms']} / – / {latency['p99_ms']} / – ms (paired, not exact)")
            row(latency, f"trade → browser at {rate:,} trades/s, p50 / p90 / p99 / max", figures,
                f"p99 ≤ {goal:,} ms" if goal else "–", latency["p99_ms"] <= goal if goal else None)
            _where_the_time_went(row, latency, f"at {rate:,}/s")


def _snapshot_rows(directory: Path, row: AddRow) -> None:
    """New clients' time to their first frame, from the live copy and from one ClickHouse read."""
    snapshot = _load(directory, "snapshot")
    if snapshot:
        rounds = (f"{snapshot['rounds']} rounds; worst round's p99 {snapshot['warm_worst_round_p99_ms']} ms"
                  if "rounds" in snapshot else "1 round")
        row(snapshot, f"snapshot at {snapshot['trades']:,} trades, {snapshot['clients']} clients connecting at once, "
            "time to first frame p50 / p99 / max: beside a connected client (live copy) · with none (one ClickHouse read)",
            f"{snapshot['warm_p50_ms']} / {snapshot['warm_p99_ms']} / {snapshot['warm_max_ms']} ({rounds}) · "
            f"{snapshot['cold_p50_ms']} / {snapshot['cold_p99_ms']} / {snapshot['cold_max_ms']} ms "
            f"({snapshot['snapshot_bytes']:,} bytes; {snapshot['clickhouse_snapshot_reads']} ClickHouse reads)",
            "p99 ≤ 50 ms", snapshot["warm_p99_ms"] <= 50)


def _busy_query_rows(directory: Path, row: AddRow) -> None:
    """The drill-down's first page read from ClickHouse beside inserts, and its other forms."""
    busy = _load(directory, "query-ingesting")
    if busy:
        runs = busy.get("drilldown_p99_ms_runs", [])
        spread = f" (the worst of {len(runs)} runs: {', '.join(f'{p99} ms' for p99 in runs)})" if len(runs) > 1 else ""
        row(busy, f"drill-down first page on {busy['trades']:,} trades while {busy['ingest_rate']:,} trades/s are "
            "inserted, p99", f"{busy['drilldown_p99_ms']} ms{spread}", "≤ 15 ms", busy["drilldown_p99_ms"] <= 15)
        variants = {key[len("drilldown_"):-len("_p99_ms")]: value for key, value in busy.items()
                    if key.startswith("drilldown_") and key.endswith("_p99_ms") and key != "drilldown_p99_ms"}
        if variants:
            row(busy, "… the same page written other ways, p99", ", ".join(f"{name} {value} ms"
                                                                   for name, value in variants.items()), "–", None)


def _first_page_rows(directory: Path, row: AddRow) -> None:
    """The drill-down's first page through daphne: as the page gets it, over its socket; from the
    API, kept in memory; and from the API read from ClickHouse, as before pages were kept."""
    page = _load(directory, "firstpage")
    if page and "socket_p99_ms" in page:
        runs = page.get("socket_p99_ms_runs", [])
        spread = f" (the worst of {len(runs)} runs' p99: {', '.join(f'{p99} ms' for p99 in runs)})" if len(runs) > 1 else ""
        row(page, f"drill-down first page as the dashboard gets it (a subscribe on its socket, answered by a page "
            f"frame), {page['trades']:,} trades, {page['rate']:,} trades/s through the system beside it, "
            "p50 / p99 / max",
            f"{page['socket_p50_ms']} / {page['socket_p99_ms']} / {page['socket_max_ms']} ms over "
            f"{page['socket_pages']:,} pages, {page['socket_from_memory']:,} of them in the frame; "
            f"{page['socket_pages_as_stored']} of {page['pages_checked']} pages as stored{spread}",
            "p99 ≤ 15 ms", page["socket_p99_ms"] <= 15 and page["socket_pages_as_stored"] == page["pages_checked"])
    for name in ("firstpage", "firstpage-clickhouse"):
        page = _load(directory, name)
        if page:
            row(page, f"drill-down first page from the API through daphne ({page['from']}), {page['trades']:,} "
                f"trades, {page['rate']:,} trades/s through the system beside it, p50 / p99 / max",
                f"{page['p50_ms']} / {page['p99_ms']} / {page['max_ms']} ms over {page['pages']:,} pages, "
                f"{page['from_memory']:,} of them kept "
                f"(/healthz beside them: p50 {page['healthz_p50_ms']} / p99 {page['healthz_p99_ms']} ms); "
                f"{page['pages_as_stored']} of {page['pages_checked']} pages as stored",
                *(("the baseline", None) if name == "firstpage-clickhouse" else
                  ("p99 ≤ 15 ms", page["p99_ms"] <= 15 and page["pages_as_stored"] == page["pages_checked"])))


def _fanout_curve_rows(directory: Path, row: AddRow) -> None:
    """The fan-out curve: the largest client count at which every client is told everything on time."""
    curve = [(n, fan) for n in FANOUT_CLIENTS if (fan := _load(directory, f"fanout-{n}"))]
    if curve:
        # A run whose clients were not timed is not on time: there is nothing to say it was.
        on_time = [n for n, f in curve if f["clients_told_everything"] == n
                   and f["worst_client_age_p99_ms"] is not None and f["worst_client_age_p99_ms"] <= 1000]
        # Points measured on other commits than the row's say their own.
        row(curve[-1][1], "fan-out at 5,000 trades/s: clients, each told of every trade, worst client's update age p99",
            "; ".join(f"{n}: {f['clients_told_everything']} of {n}, "
                      + (f"{f['worst_client_age_p99_ms']} ms" if f["worst_client_age_p99_ms"] is not None
                         else "not timed")
                      + (f" ({f['commit'][:7]})" if f.get("commit") != curve[-1][1].get("commit") else "")
                      for n, f in curve)
            + (f"; on time up to {max(on_time)}" if on_time else "; none on time"),
            "≥ 500 clients on time", bool(on_time) and max(on_time) >= 500)
        for n, fan in curve:
            _where_the_time_went(row, fan, f"at {n} clients (their timed tenth)")


def _slow_client_rows(directory: Path, row: AddRow) -> None:
    """Clients that never read: daphne's memory, and the reading client beside them."""
    slow = _load(directory, "slowclients")
    if slow:
        row(slow, f"{slow['clients']} clients that never read, {slow['seconds'] / 60:.0f} min at {slow['rate']:,}/s: "
            "daphne's RSS growth (highest − before); the reading client's trades and p99",
            f"{slow['rss_growth_mb']} MB ({slow['rss_before_mb']} → {slow['rss_highest_mb']}); "
            f"{slow['received']:,} of {slow['sent']:,}, p99 {slow['p99_ms']} ms; {slow['closed_behind']} closed behind",
            "≤ 50 MB, reader exact", slow["rss_growth_mb"] <= 50 and slow["received"] == slow["sent"])


def _codec_rows(directory: Path, row: AddRow) -> None:
    """The trades insert through each codec."""
    codec = _load(directory, "codec")
    if codec:
        paths = [key[:-len("_median_ms")] for key in codec if key.endswith("_median_ms") and "encode" not in key]
        value = ", ".join(f"{path} {codec[f'{path}_median_ms']} / {codec[f'{path}_max_ms']}" for path in paths)
        if "library_rust_median_ms" in codec:  # the rule: the library's codec replaces ours within 10 %
            ratio = codec["library_rust_median_ms"] / codec["native_py_median_ms"] - 1
            value += f"; library_rust's median {ratio:+.0%} against native_py's"
        row(codec, f"the trades insert of {codec['rows']:,} rows, median / max ms", value,
            "the library's codec if within 10 %", None)


def _export_rows(directory: Path, row: AddRow) -> None:
    """The CSV download at its row cap."""
    export = _load(directory, "export")
    if export:
        row(export, f"CSV download of one symbol's {export['rows']:,} newest trades (the cap) through daphne: first "
            "byte, last byte, rows a second; daphne's RSS before and at its peak; a drill-down's first page "
            "requested meanwhile, p50 / p99", f"{export['first_byte_ms']} ms, {export['seconds']} s, "
            f"{export['rows_per_second']:,}/s ({export['megabytes']} MB); {export['daphne_rss_before_mb']} → "
            f"{export['daphne_peak_rss_mb']} MB; {export.get('beside_p50_ms', '–')} / {export.get('beside_p99_ms', '–')} ms",
            "streamed, exact", export["exact"])


def _fanout_rows(directory: Path, row: AddRow) -> None:
    """The fan-out run at its documented size: delivery client by client."""
    fanout = _load(directory, "fanout")
    if fanout and "clients_told_everything" in fanout:
        row(fanout, f"{fanout['clients']} clients at {fanout['rate']:,} trades/s: updates delivered", *_delivery(fanout))


def _soak_rows(directory: Path, row: AddRow) -> None:
    """The soak: memory, file descriptors, exactness and delivery."""
    soak = _load(directory, "soak")
    if soak:
        worst = soak.get("max_rss_growth_process")
        row(soak, f"soak {soak['minutes']} min at {soak['rate']:,}/s, {soak['clients']} clients: RSS growth of the "
            f"process that grew most{f' ({worst})' if worst else ''}",
            f"{soak['max_rss_growth']:.1%}", "≤ 10 %", soak["max_rss_growth"] <= 0.10)
        fds_worst = soak.get("fd_growth_process")
        row(soak, f"soak: open file descriptors, end − start, of the process that grew most"
            f"{f' ({fds_worst})' if fds_worst else ''}", soak["fd_growth"], "≤ 0", soak["fd_growth"] <= 0)
        row(soak, "soak: stored exactly what was sent", soak["exact"], "exact", soak["exact"])
        if "delivery" in soak:
            row(soak, "soak: updates delivered to the clients", *_delivery(soak["delivery"]))


def _page_rows(directory: Path, row: AddRow) -> None:
    """The dashboard kept open in Chromium: its size over the run, and its total against what was sent."""
    page = _load(directory, "page")
    if page:
        row(page, f"the dashboard open in Chromium {page['minutes']:.0f} min at {page['rate']:,}/s with "
            f"{len(page['drilldowns'])} drill-downs: JS heap and DOM nodes after the warm-up → largest → last; "
            "the largest drill-down's rows at any sample",
            f"{page['heap_mb_first']} → {page['heap_mb_max']} → {page['heap_mb_last']} MB; {page['nodes_first']:,} → "
            f"{page['nodes_max']:,} → {page['nodes_last']:,} nodes; {page['drilldown_rows_max']:,} rows",
            f"rows ≤ {DRILL_DOWN_ROWS_CAP:,}", page["drilldown_rows_max"] <= DRILL_DOWN_ROWS_CAP)
        row(page, "… the page's total trades at the end against what the producer sent",
            f"{page['shown']:,} of {page['sent']:,}", "exact", page["exact"])


SECTIONS: tuple[Callable[[Path, AddRow], None], ...] = (  # in the order of the page's table
    _replay_rows, _ingest_rows, _query_rows, _latency_rows, _snapshot_rows, _busy_query_rows, _first_page_rows,
    _fanout_curve_rows, _slow_client_rows, _codec_rows, _export_rows, _fanout_rows, _soak_rows, _page_rows,
)


def _memory_gib() -> float:
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        return kib / 1024 / 1024
    except (OSError, ValueError, IndexError):
        return 0.0


def _pyplot() -> ModuleType:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def _ingest_plot(directory: Path) -> tuple[str, str] | None:
    points = [(n, _load(directory, f"ingest-{n}-process{'es' if n > 1 else ''}")) for n in (1, 2, 3)]
    points = [(n, figures["trades_per_s"]) for n, figures in points if figures]
    if not points:
        return None
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(figsize=(5, 3.2))
    axes.plot([n for n, _ in points], [rate for _, rate in points], marker="o")
    axes.set_xlabel("worker processes (2 cores, shared with Kafka and ClickHouse)")
    axes.set_ylabel("trades / s")
    axes.set_xticks([n for n, _ in points])
    axes.set_ylim(bottom=0)
    axes.set_title("Ingest throughput (2,000,000 trades)")
    figure.tight_layout()
    figure.savefig(directory / "ingest-processes.png", dpi=110)
    pyplot.close(figure)
    return "Ingest throughput against worker processes", "docs/benchmarks/ingest-processes.png"


def _latency_plot(directory: Path) -> tuple[str, str] | None:
    loaded = [(rate, _load(directory, f"latency-{rate}")) for rate in (300, 2000, 5000, 20000)]
    points = [(rate, figures) for rate, figures in loaded if figures]
    if not points:
        return None
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(figsize=(5, 3.2))
    rates = [rate for rate, _ in points]
    axes.plot(rates, [f["p50_ms"] for _, f in points], marker="o", label="p50")
    axes.plot(rates, [f["p99_ms"] for _, f in points], marker="o", label="p99")
    axes.set_xscale("log")
    axes.set_xlabel("trades / s")
    axes.set_ylabel("trade → browser, ms")
    axes.legend()
    axes.set_title("Latency percentiles against trade rate")
    figure.tight_layout()
    figure.savefig(directory / "latency-rate.png", dpi=110)
    pyplot.close(figure)
    return "Latency percentiles against trade rate", "docs/benchmarks/latency-rate.png"
