"""Symbol reference data: NASDAQ's directory format and the bundled universe."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import SHARED_DATA
from trademonitor import symbols
from trademonitor.models import Symbol

NASDAQ_FILE = SHARED_DATA / "nasdaqlisted.txt"

pytestmark = pytest.mark.django_db


def test_real_directory_file_imports_every_non_test_symbol():
    report = symbols.load(NASDAQ_FILE)

    assert (report.created, report.updated, report.test_issues, report.errors) == (3161, 0, 9, [])
    assert Symbol.objects.count() == 3161
    aal = Symbol.objects.get(symbol="AAL")
    assert aal.name == "American Airlines Group, Inc. - Common Stock"
    assert (aal.market_category, aal.financial_status, aal.is_etf) == ("Q", "N", False)
    assert not Symbol.objects.filter(name__icontains="NASDAQ TEST STOCK").exists()


def test_financial_status_is_kept():
    symbols.load(NASDAQ_FILE)
    lines = NASDAQ_FILE.read_text().splitlines()[1:]
    normal = sum(1 for line in lines if line.split("|")[4] == "N" and line.split("|")[3] == "N")
    assert Symbol.objects.filter(financial_status="N").count() == normal
    assert Symbol.objects.exclude(financial_status="N").count() == 3161 - normal


def test_reloading_updates_in_place():
    symbols.load(NASDAQ_FILE)
    Symbol.objects.filter(symbol="AAL").update(name="stale name", active=False)

    report = symbols.load(NASDAQ_FILE)

    assert (report.created, report.updated) == (0, 3161)
    assert Symbol.objects.count() == 3161
    aal = Symbol.objects.get(symbol="AAL")
    assert aal.name == "American Airlines Group, Inc. - Common Stock"
    assert aal.active is False  # an operator's decision survives a reload


def test_broken_lines_are_reported_and_the_rest_imported(tmp_path):
    path = tmp_path / "broken.txt"
    path.write_text(
        "Symbol|Security Name|Market Category|Test Issue|Financial Status|Round Lot Size|ETF|NextShares\n"
        "GOOD|Good Corp. - Common Stock|Q|N|N|100|N|N\n"
        "SHORT|only three|Q\n"
        "<b>X|Markup Inc.|Q|N|N|100|N|N\n"
        "BADT|Bad Test Flag|Q|maybe|N|100|N|N\n"
        "ETFX|Some ETF|G|N|D|100|Y|N\n"
        "File Creation Time: 0311202013:41|||||||\n",
        newline="\r\n",
    )
    report = symbols.load(path)

    assert (report.created, report.test_issues) == (2, 0)
    assert [error.split(":")[0] for error in report.errors] == ["line 3", "line 4", "line 5"]
    assert set(Symbol.objects.values_list("symbol", flat=True)) == {"GOOD", "ETFX"}
    assert Symbol.objects.get(symbol="ETFX").is_etf


def test_command_reports_counts(capsys):
    call_command("loadsymbols", str(NASDAQ_FILE))
    assert "3161 created, 0 updated, 9 test issues skipped, 0 malformed lines skipped" in capsys.readouterr().out


def test_command_refuses_a_file_without_symbols(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("not a directory file\n")
    with pytest.raises(CommandError, match="no symbols imported"):
        call_command("loadsymbols", str(empty))


def test_bundled_universe_has_three_thousand_named_companies():
    report = symbols.load()

    assert report.errors == [] and report.created >= 3000
    assert Symbol.objects.exclude(name="").count() == report.created
    assert Symbol.objects.get(symbol="AAPL").name == "Apple Inc."
    assert set(Symbol.objects.values_list("market_category", flat=True)) == {"Q", "G", "S"}
