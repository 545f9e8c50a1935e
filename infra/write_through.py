"""Twisted connections that send at once when nothing is queued (daphne's accepted sockets).

Twisted queues every write and asks the event loop to say when the socket is writable; on
the loop's next turn it sends and stops asking. Each frame to each dashboard client thus
changed the poller's registration twice, a large share of daphne's CPU with hundreds of
clients, and no frame left before the hub had handed its update to every client and the
loop turned (docs/benchmarks/design.md). asyncio's own transports try the socket first
and queue only what it does not take at once; so does this, for the connections a
listening port accepts. A connection with bytes already queued keeps Twisted's path, so
bytes keep their order; so does one being closed or aborted, or one speaking TLS through
Twisted.
"""

from __future__ import annotations

from twisted.internet import tcp

_queued_write = tcp.Server.write


def write_through(connection: tcp.Server, data: bytes) -> None:
    """`connection.write(data)`, sending what the socket takes now and queueing the rest."""
    if isinstance(data, bytes) and data and _idle(connection):
        sent = connection.writeSomeData(data)
        if isinstance(sent, int):  # else the connection is lost: Twisted's path reports it
            if sent == len(data):
                return
            data = data[sent:]
    _queued_write(connection, data)


def _idle(connection: tcp.Server) -> bool:
    """Open for writing (not being closed or aborted), not through TLS, and nothing queued
    before these bytes."""
    return bool(
        connection.connected
        and not connection.disconnecting
        and not connection._aborting
        and not connection._writeDisconnecting
        and not connection._writeDisconnected
        and not connection.TLS
        and not connection._tempDataLen
        and connection.offset == len(connection.dataBuffer)
    )


def install() -> None:
    """Every connection a Twisted port accepts from now on writes through (idempotent)."""
    tcp.Server.write = write_through  # type: ignore[method-assign, assignment]
