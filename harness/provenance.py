"""What a published figure records about where it was measured: the commit, whether the
working tree differed from it, and how fast the machine was."""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def provenance() -> dict[str, str]:
    """{"commit": the commit checked out (with "+changes" if the tree differs from it), "measured_at": UTC time}."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=PROJECT_DIR, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    # The figures being written (docs/, the pages) are not changes to what is measured.
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs", ":!BENCHMARKS.md",
                  ":!RELIABILITY.md")
    return {"commit": commit + ("+changes" if changed else ""),
            "measured_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def machine_ms() -> float:
    """Milliseconds a fixed pure-Python loop takes here, the best of three. This machine's
    speed changes by up to twice over a day (it shares its host): figures measured at
    different speeds are compared by this, not by their commits alone."""
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        sum(range(10_000_000))
        timings.append((time.perf_counter() - started) * 1000)
    return round(min(timings), 1)


def measured(run: Callable[[], dict]) -> dict:
    """`run()`'s figures with their provenance, and the machine's speed just before and after."""
    before = machine_ms()
    figures = run()
    return {**figures, **provenance(), "machine_ms": [before, machine_ms()]}
