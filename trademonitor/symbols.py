"""Reading NASDAQ's symbol directory (nasdaqlisted.txt) into the Symbol table.

The format: pipe-delimited, a header line
`Symbol|Security Name|Market Category|Test Issue|Financial Status|Round Lot Size|ETF|NextShares`
(some copies prefix it with "# "), LF or CRLF line endings, and in the official
download a trailer line "File Creation Time: …". Test issues are skipped;
malformed lines are reported with their line numbers and skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from trademonitor.models import Symbol

BUNDLED_FILE = Path(__file__).resolve().parent / "data" / "nasdaqlisted.txt"
HEADER = ["Symbol", "Security Name", "Market Category", "Test Issue", "Financial Status", "Round Lot Size", "ETF",
          "NextShares"]
# Letters and digits, with the suffix marks NASDAQ uses (e.g. "BRK.A", "ABC$"). Quotes,
# spaces and markup never pass, so a symbol is safe to put in JSON, SQL parameters or HTML.
SYMBOL_PATTERN = re.compile(r"^[A-Z][A-Z0-9.$^-]{0,15}$")
_YES_NO = {"Y": True, "N": False}


@dataclass
class ParsedFile:
    symbols: list[Symbol] = field(default_factory=list)
    test_issues: int = 0
    errors: list[str] = field(default_factory=list)  # "line N: why"


def parse(lines: Iterable[str]) -> ParsedFile:
    result = ParsedFile()
    header_seen = False
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.startswith("File Creation Time"):
            continue
        fields = line.split("|")
        if not header_seen:
            if [name.strip() for name in line.removeprefix("# ").split("|")] != HEADER:
                result.errors.append(f"line {number}: expected the header {'|'.join(HEADER)}")
                return result
            header_seen = True
            continue
        problem = _problem(fields)
        if problem:
            result.errors.append(f"line {number}: {problem}")
            continue
        symbol, name, category, test_issue, status, _lot, etf, _next_shares = fields
        if test_issue == "Y":
            result.test_issues += 1
            continue
        result.symbols.append(Symbol(
            symbol=symbol, name=name.strip(), market_category=category, financial_status=status,
            is_etf=etf == "Y", active=True,
        ))
    if not header_seen:
        result.errors.append("no header line")
    return result


def _problem(fields: list[str]) -> str | None:
    if len(fields) != len(HEADER):
        return f"{len(fields)} fields, expected {len(HEADER)}"
    symbol, name, category, test_issue, status, _lot, etf, _next_shares = fields
    if not SYMBOL_PATTERN.match(symbol):
        return f"invalid symbol {symbol[:20]!r}"
    if not name.strip():
        return "empty security name"
    if category not in Symbol.MarketCategory.values and category != "":
        return f"unknown market category {category!r}"
    if test_issue not in _YES_NO:
        return f"test issue must be Y or N, not {test_issue!r}"
    if status not in Symbol.FinancialStatus.values:
        return f"unknown financial status {status!r}"
    if etf not in (*_YES_NO, ""):
        return f"ETF must be Y, N or empty, not {etf!r}"
    return None


@dataclass
class LoadReport:
    created: int
    updated: int
    test_issues: int
    errors: list[str]


def load(path: Path = BUNDLED_FILE) -> LoadReport:
    """Create or update every symbol in the file; other symbols are left as they are."""
    with open(path, encoding="utf-8", newline="") as handle:
        parsed = parse(handle)
    names = [symbol.symbol for symbol in parsed.symbols]
    with transaction.atomic():
        existing = set(Symbol.objects.filter(symbol__in=names).values_list("symbol", flat=True))
        Symbol.objects.bulk_create(
            parsed.symbols, batch_size=500, update_conflicts=True, unique_fields=["symbol"],
            update_fields=["name", "market_category", "financial_status", "is_etf", "updated_at"],
        )
    return LoadReport(len(set(names) - existing), len(set(names) & existing), parsed.test_issues, parsed.errors)


def trading_universe(only: list[str] | None = None) -> list[str]:
    """Active symbols in normal (or unknown) financial standing, like the seed's."""
    symbols = Symbol.objects.filter(active=True, financial_status__in=[Symbol.FinancialStatus.NORMAL, ""])
    if only:
        symbols = symbols.filter(symbol__in=only)
    return list(symbols.order_by("symbol").values_list("symbol", flat=True))


def bundled_universe() -> list[str]:
    """trading_universe() of a database loaded from the bundled file alone: what
    benchmarks trade, against a scratch symbol database of their own."""
    normal = {Symbol.FinancialStatus.NORMAL, ""}
    return sorted(s.symbol for s in parse(BUNDLED_FILE.read_text().splitlines()).symbols
                  if s.financial_status in normal)
