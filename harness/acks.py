"""A dashboard client's acknowledgements (contract.Ack), for the Python clients of the
tests and benchmarks: the server closes a client that reads without acknowledging
once DASHBOARD_UNREAD_BYTES have gone unacknowledged, as it would a slow page."""

from __future__ import annotations

import time

import contract


class Acknowledger:
    def __init__(self) -> None:
        self.received = 0
        self._last = time.monotonic()

    def count(self) -> str | None:
        """Count a received frame; returns the acknowledgement to send when one is due
        (every ACK_EVERY_SECONDS, as the page sends them)."""
        self.received += 1
        now = time.monotonic()
        if now - self._last < contract.ACK_EVERY_SECONDS:
            return None
        self._last = now
        return contract.ack(self.received)
