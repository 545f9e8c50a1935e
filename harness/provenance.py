"""What a published figure records about where it was measured: the commit, and whether
the working tree differed from it."""

from __future__ import annotations

import datetime as dt
import subprocess
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
