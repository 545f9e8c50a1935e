"""Progress bars for long command-line work, only when attached to a terminal."""

from __future__ import annotations

import sys

from tqdm import tqdm


def progress(total: int, description: str, unit: str = "it") -> tqdm:
    return tqdm(total=total, desc=description, unit=unit, unit_scale=True, disable=not sys.stderr.isatty())
