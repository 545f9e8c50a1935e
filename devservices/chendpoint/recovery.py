"""What the embedded engine's data directory needs after a crash, before the engine opens it.

A non-replicated MergeTree table writes an insert's block to its deduplication log
*before* it commits the block's part (MergeTreeSink: the log's `addPart`, then the
part's rename). A process killed between the two leaves a record of a part that was
never committed, and the engine then drops the retry of that insert as a duplicate:
its rows are missing from that one table, for good. A worker's retry after the
endpoint was killed is exactly such a retry (workers/ingest.py): the fault suite saw
`symbol_totals` short of `trades` after it (README, "A ClickHouse process killed mid-insert").

clickhouse-server has the same gap for non-replicated tables, and nothing here mends
it there. Replicated tables (the cluster) commit the block's record and its part in one
Keeper transaction, and that is what exactly-once across a killed server rests on.

So the endpoint, before it starts the engine, removes every record of a part that is
not on disk and that no part on disk covers: the insert it records never happened.
No part on disk covers such a record: the sink numbers the part, records it and
commits it under one hold of the table's parts lock, so no part numbered after it,
and so no merge across it, was committed before the kill. Covering is for the log's
older records, whose parts were committed and have been merged since.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

LOG_DIRECTORY = "deduplication_logs"
REWRITE_SCRATCH = "deduplication_log.rewriting"
ADD = "1"  # MergeTreeDeduplicationOp::ADD; every other record (a DROP, ...) is kept as it is

# partition_min_max_level[_mutation]; a partition ID has no underscore.
_PART_NAME = re.compile(r"^(?P<partition>[^_]+)_(?P<min>\d+)_(?P<max>\d+)_\d+(?:_\d+)?$")


@dataclass(frozen=True)
class Blocks:
    """The block numbers a part holds, in one partition."""

    partition: str
    first: int
    last: int

    @classmethod
    def of(cls, part_name: str) -> Blocks | None:
        match = _PART_NAME.match(part_name)
        if match is None:
            return None
        return cls(match["partition"], int(match["min"]), int(match["max"]))

    def covers(self, other: Blocks) -> bool:
        return self.partition == other.partition and self.first <= other.first and other.last <= self.last


def forget_uncommitted_blocks(data_dir: Path) -> list[str]:
    """Remove, from every table's deduplication log under `data_dir`, the records of parts
    that are not on disk and not covered by one that is. Returns them, "table: record"."""
    # A log is rewritten beside the data, not beside the log: the engine reads every file
    # in a log directory as a log, and a start killed mid-rewrite would leave one there.
    scratch = Path(data_dir) / REWRITE_SCRATCH
    scratch.unlink(missing_ok=True)
    removed: list[str] = []
    for logs in sorted(Path(data_dir).glob(f"store/*/*/{LOG_DIRECTORY}")):
        table = logs.parent
        parts = [blocks for entry in table.iterdir() if entry.is_dir() and (blocks := Blocks.of(entry.name))]
        for log in sorted(logs.glob("deduplication_log_*.txt")):
            removed += [f"{table.name}: {line.strip()}" for line in _forget_in(log, parts, scratch)]
    for record in removed:
        logger.warning("deduplication record of a part never committed removed (a crash mid-insert): %s", record)
    return removed


def _forget_in(log: Path, parts: list[Blocks], scratch: Path) -> list[str]:
    """Rewrite `log` (through `scratch`) without its records of uncommitted parts; returns
    those records."""
    kept: list[str] = []
    removed: list[str] = []
    with log.open(encoding="utf-8") as lines:
        for line in lines:
            (removed if _uncommitted(line, parts) else kept).append(line)
    if removed:
        scratch.write_text("".join(kept), encoding="utf-8")
        os.replace(scratch, log)
    return removed


def _uncommitted(line: str, parts: list[Blocks]) -> bool:
    fields = line.rstrip("\n").split("\t")
    if len(fields) != 3 or fields[0] != ADD:
        return False
    blocks = Blocks.of(fields[1])
    return blocks is not None and not any(part.covers(blocks) for part in parts)
