"""`manage.py verify`: the check users run on their own cluster, run here on the single node."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import PROJECT_DIR

pytestmark = [pytest.mark.services, pytest.mark.slow]


def test_verify_kills_workers_mid_flush_and_finds_everything_exact(services):
    result = subprocess.run([sys.executable, "manage.py", "verify", "--trades", "60000", "--kills", "2"],
                            cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "workers killed mid-flush 2 times" in result.stdout
    assert "exact: ids, per-symbol trades, shares, volume, candles and sentiment" in result.stdout
    for partition in range(3):
        assert f"partition {partition}: ledger finished up to " in result.stdout
