"""The dashboard's pure live-state logic: telling a lost delta from a repeat."""

import contract
from trademonitor.live import GAP, NEW, REPEAT, Continuity


def delta(kind: str = contract.TRADES_DELTA, **consumed: tuple[int, int]) -> dict:
    return {"type": kind, "consumed": {partition.lstrip("p"): list(span) for partition, span in consumed.items()}}


def test_consecutive_deltas_are_new_and_a_skipped_range_is_a_gap():
    continuity = Continuity()
    assert continuity.check(delta(p0=(0, 99), p1=(0, 49))) == NEW
    assert continuity.check(delta(p0=(100, 180))) == NEW
    assert continuity.check(delta(p1=(50, 60), p0=(181, 200))) == NEW
    assert continuity.check(delta(p0=(230, 240))) == GAP      # 201-229 never arrived
    assert continuity.check(delta(p0=(241, 250))) == NEW      # the gap's delta is the new starting point


def test_repeats_and_overlaps():
    continuity = Continuity()
    continuity.check(delta(p2=(0, 99)))
    assert continuity.check(delta(p2=(10, 99))) == REPEAT     # all of it seen
    assert continuity.check(delta(p2=(90, 120))) == NEW       # a resumed worker's overlap (dead letters only)
    assert continuity.check(delta(p2=(121, 130))) == NEW


def test_kinds_and_partitions_are_tracked_apart():
    continuity = Continuity()
    continuity.check(delta(p0=(0, 9)))
    assert continuity.check(delta(contract.SENTIMENT_DELTA, p0=(500, 509))) == NEW  # its own first delta
    assert continuity.check(delta(p1=(700, 709))) == NEW                     # a partition seen for the first time
    assert continuity.check(delta(contract.SENTIMENT_DELTA, p0=(520, 530))) == GAP


def test_reset_forgets_everything():
    continuity = Continuity()
    continuity.check(delta(p0=(0, 9)))
    continuity.reset()
    assert continuity.check(delta(p0=(50, 60))) == NEW
