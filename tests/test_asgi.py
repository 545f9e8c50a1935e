"""The ASGI entry point's adjustments of the WebSocket stack and the process (trademonitor/asgi.py)."""

import gc
import json
import pprint
import socket
import subprocess
import sys
import textwrap

import autobahn.util
import autobahn.websocket.protocol
import pytest
import txaio
from twisted.internet import tcp
from twisted.internet.protocol import Protocol

from infra import write_through


class Unprintable:
    def __repr__(self) -> str:
        raise AssertionError("formatted for a debug line that is not logged")


@pytest.fixture
def autobahn_log_level():
    txaio.use_twisted()  # as daphne runs autobahn
    level = txaio.get_global_log_level()
    yield txaio.set_global_log_level
    txaio.set_global_log_level(level)


def test_autobahn_formats_its_debug_lines_only_when_they_are_logged(autobahn_log_level):
    import trademonitor.asgi  # noqa: F401 (daphne imports it at start)

    protocol = autobahn.websocket.protocol
    autobahn_log_level("info")
    assert protocol.pformat([Unprintable()]) == "(not formatted: autobahn logs no debug lines)"
    assert protocol.hltype(Unprintable) == protocol.hlval(Unprintable()) == "(not formatted: autobahn logs no debug lines)"
    autobahn_log_level("debug")
    configuration = [("autoPingInterval", 20, "WebSocketServerFactory"), ("maxMessagePayloadSize", 0, "x")]
    assert protocol.pformat(configuration) == pprint.pformat(configuration)
    assert protocol.hlval(42) == autobahn.util.hlval(42) and "Unprintable" in protocol.hltype(Unprintable)


def test_what_the_web_process_loads_is_kept_out_of_full_collections():
    import trademonitor.asgi  # noqa: F401 (daphne imports it at start)

    assert gc.get_freeze_count() > 10_000  # Django and the apps, at least


# Run in a fresh interpreter: glibc's thresholds are per process, and adapt to what it freed.
HEAP_PROBE = textwrap.dedent("""
    import ctypes, json, sys
    from infra.memory import keep_freed_memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                     "keepcost")]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    kept = keep_freed_memory() if sys.argv[1] == "kept" else None
    mapped = libc.mallinfo2().hblks
    frames = [bytearray(300_000) for _ in range(50)]  # 50 clients' copies of a snapshot frame
    mapped = libc.mallinfo2().hblks - mapped
    heap = libc.mallinfo2().arena
    del frames
    print(json.dumps({"kept": kept, "mapped": mapped, "heap_kept": libc.mallinfo2().arena >= heap - 1_000_000}))
""")


def _heap_probe(mode: str) -> dict:
    run = subprocess.run([sys.executable, "-c", HEAP_PROBE, mode], capture_output=True, text=True, timeout=60,
                         check=True)
    return json.loads(run.stdout)


def test_the_web_process_reuses_the_snapshot_copies_it_frees_rather_than_mapping_each_afresh():
    assert _heap_probe("default")["mapped"] == 50  # glibc's default: each 300 KB copy a mapping of its own

    kept = _heap_probe("kept")

    assert kept == {"kept": True, "mapped": 0, "heap_kept": True}


class PollerRegistrations:
    """The reactor's side of a Twisted connection, recording which connections asked to be
    told when their socket is writable (the real socket does the rest)."""

    def __init__(self):
        self.writers: list[object] = []

    def addWriter(self, writer):  # noqa: N802 (Twisted's IReactorFDSet names)
        if writer not in self.writers:
            self.writers.append(writer)

    def removeWriter(self, writer):  # noqa: N802
        pass

    def addReader(self, reader):  # noqa: N802
        pass

    def removeReader(self, reader):  # noqa: N802
        pass

    def callLater(self, delay, call, *args):  # noqa: N802
        pass  # an aborted connection's end: not needed here


@pytest.fixture
def accepted_connection():
    """A daphne-side connection as a Twisted port accepts it, on a real socket pair, with
    daphne's writes; and the client's end of the socket."""
    import trademonitor.asgi  # noqa: F401 (daphne imports it at start; it installs the writes)

    server_end, client_end = socket.socketpair()
    poller = PollerRegistrations()
    connection = tcp.Server(server_end, Protocol(), ("127.0.0.1", 50_000), None, 1, poller)
    connection.repstr = "<the test's connection>"  # a port sets it; there is none here
    client_end.settimeout(5)
    yield connection, client_end, poller
    server_end.close()
    client_end.close()


def test_a_frame_reaches_the_client_socket_as_it_is_written_not_on_the_loops_next_turn(accepted_connection):
    connection, client_end, poller = accepted_connection
    assert tcp.Server.write is write_through.write_through

    connection.write(b"frame one")
    connection.write(b"frame two")

    assert client_end.recv(100) == b"frame oneframe two"
    assert poller.writers == []  # no registration with the poller, no waiting for its turn


def test_what_the_socket_does_not_take_at_once_is_queued_and_sent_in_order(accepted_connection):
    connection, client_end, poller = accepted_connection
    large = bytes(range(256)) * 40_000  # 10 MB: more than the socket's buffers hold
    connection.write(large)
    assert poller.writers == [connection]  # the rest waits for the socket to be writable
    received = bytearray(client_end.recv(1 << 20))  # room in the socket again, the rest still queued

    connection.write(b"the next frame")  # must not overtake the rest of the first

    while len(received) < len(large) + len(b"the next frame"):
        connection.doWrite()  # as the loop does once the socket is writable again
        received += client_end.recv(1 << 20)
    assert bytes(received) == large + b"the next frame"


@pytest.mark.parametrize("close", ["loseConnection", "abortConnection"])
def test_a_connection_being_closed_or_aborted_keeps_twisteds_path(accepted_connection, close):
    connection, client_end, poller = accepted_connection
    getattr(connection, close)()

    connection.write(b"too late")

    client_end.setblocking(False)  # what was sent is there at once (a socket pair)
    with pytest.raises(BlockingIOError):
        client_end.recv(100)
