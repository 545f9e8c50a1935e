"""`manage.py verify`: the check users run on their own cluster, run here on the single node."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings

from harness.pool import database_url
from tests.conftest import PROJECT_DIR
from tests.trades_data import insert, make_trade

pytestmark = [pytest.mark.services]


@pytest.mark.slow
def test_verify_kills_workers_mid_flush_and_finds_everything_exact(services):
    result = subprocess.run([sys.executable, "manage.py", "verify", "--trades", "60000", "--kills", "2"],
                            cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "workers killed mid-flush 2 times" in result.stdout
    assert "exact: ids, per-symbol trades, shares, volume, candles and sentiment" in result.stdout
    for partition in range(3):
        assert f"partition {partition}: ledger finished up to " in result.stdout


def verify_stored(database: str) -> tuple[str, CommandError | None]:
    out = io.StringIO()
    with override_settings(CLICKHOUSE_READONLY_URL=database_url(settings.CLICKHOUSE_READONLY_URL, database)):
        try:
            call_command("verify", "--stored", stdout=out)
        except CommandError as error:
            return out.getvalue(), error
    return out.getvalue(), None


def test_verify_stored_finds_each_view_that_lacks_rows_of_its_source(schema, scratch_database):
    writer, _ = schema
    insert(writer, [make_trade("AAPL", 0, 100, 1, 0, 0), make_trade("MSFT", 30_000, 200, 2, 1, 0)])
    out, error = verify_stored(scratch_database)
    assert error is None, out
    assert f"agree: symbol_totals and candles_1m with trades, symbol_sentiment with trade_sentiment " \
           f"(database {scratch_database})" in out

    # What a block lost from each view's table alone would leave.
    writer.command("INSERT INTO symbol_totals (symbol, kafka_partition, trades, shares) VALUES ('AAPL', 0, 1, 1)")
    writer.command("ALTER TABLE candles_1m DELETE WHERE symbol = 'MSFT' SETTINGS mutations_sync = 1")
    writer.command("INSERT INTO symbol_sentiment (symbol, kafka_partition, whales) VALUES ('MSFT', 1, 1)")
    out, error = verify_stored(scratch_database)

    assert error is not None and "3 differences" in str(error)
    assert out.splitlines() == [
        "DIFFERENT: symbol_totals differs from trades for AAPL: trades 2 kept, 1 recomputed; "
        "shares 2 kept, 1 recomputed",
        "DIFFERENT: candles_1m differs from trades for MSFT at 2026-03-11 13:00: trades 0 kept, 1 recomputed; "
        "shares 0 kept, 2 recomputed; volume 0.00 kept, 4.00 recomputed; "
        "prices (0.00, 0.00, 0.00, 0.00) kept, (2.00, 2.00, 2.00, 2.00) recomputed",
        "DIFFERENT: symbol_sentiment differs from trade_sentiment for MSFT in partition 1: whales 1 kept, "
        "0 recomputed",
    ]
