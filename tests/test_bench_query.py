"""`bench query` on a small load: its reads run, its checks hold, and it says how many
month partitions the loaded day spans (two on a month's first day)."""

import datetime as dt

from benchmarks import query

TRADES = 3000


def months_of_the_loaded_day(now: dt.datetime) -> int:
    day_before = now - dt.timedelta(days=1)
    return len({(day_before.year, day_before.month), (now.year, now.month)})


def test_bench_query_reports_its_reads_and_the_months_its_trades_span(services):
    before = months_of_the_loaded_day(dt.datetime.now(dt.UTC))
    figures = query.run(trades=TRADES, samples=8)
    after = months_of_the_loaded_day(dt.datetime.now(dt.UTC))

    assert figures["totals_exact"] is True
    assert figures["symbols"] == query.SYMBOLS
    assert figures["month_partitions"] in {before, after}
    assert all(figures[name] > 0 for name in ("drilldown_p99_ms", "snapshot_p99_ms", "candles_p99_ms"))
