"""A TCP proxy in front of Kafka that makes the broker shut down as a lone broker does.

A lone broker that stops gracefully is fenced before its listeners close: for that moment a
Metadata answer lists no broker and no partition leader, and then each connection drops.
librdkafka 2.10 and later drop the brokers such an answer leaves out; from 2.11 a client
whose broker thread sees the connection close before its main thread reads the answer is left
with no broker and no way back (librdkafka#5301).

Clients reach the broker through its PROXIED listener, which Kafka advertises at the proxy's
port (devservices Kafka.shutdown_proxy_ports), so every connection a client opens, bootstrap
or learned, comes through here. While the proxy shuts down, each Metadata request is answered
by the broker's UNADVERTISED listener, in no broker's registration: no broker, no leaders.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

from tests.proxy import Proxy

METADATA = 3  # the Metadata request's API key
MOST_SHUTTING_DOWN = 30.0  # seconds


class KafkaShutdownProxy(Proxy):
    def __init__(self, port: int, upstream_port: int, unadvertised_port: int):
        self.upstream = ("127.0.0.1", upstream_port)
        self.unadvertised = ("127.0.0.1", unadvertised_port)
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._shutting_down = threading.Event()
        self._answered = threading.Event()  # a Metadata request was answered with no broker
        self._down_until = 0.0
        self.answered_with_no_broker = 0
        super().__init__(port)

    def shut_down(self, seconds: float, shutting_down: float) -> threading.Event:
        """For `shutting_down` seconds, and on until a client's Metadata request has had such
        an answer (a busy machine's clients may ask late; 30 s at most), answer each Metadata
        request with no broker and close that connection; then close every connection and
        refuse new ones for `seconds`. Returns an event set once the broker is back."""
        back = threading.Event()
        self._answered.clear()
        self._shutting_down.set()
        threading.Thread(target=self._shut_down, args=(seconds, shutting_down, back), daemon=True).start()
        return back

    def _shut_down(self, seconds: float, shutting_down: float, back: threading.Event) -> None:
        time.sleep(shutting_down)  # the scenario's length, not a wait for a condition
        self._answered.wait(MOST_SHUTTING_DOWN - shutting_down)
        self._shutting_down.clear()
        self._go_down(seconds)
        time.sleep(seconds)
        back.set()

    def close(self) -> None:
        super().close()
        self._drop(self._take_open())

    def _go_down(self, seconds: float) -> None:
        self._down_until = time.monotonic() + seconds
        self._drop(self._take_open())

    def _refuses(self) -> bool:
        return time.monotonic() < self._down_until  # the broker is away: refused, as near as an open port allows

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        with self._lock:
            self._open += [client, upstream]
        writing = threading.Lock()  # the client's answers come from two threads
        threading.Thread(target=_relay_answers, args=(upstream, client, writing), daemon=True).start()
        with contextlib.suppress(OSError):
            while True:
                request = _read_frame(client)
                if _api_key(request) == METADATA and self._shutting_down.is_set():
                    answer = self._ask_unadvertised(request)
                    with writing:
                        client.sendall(answer)
                    with self._lock:  # connections are served in threads of their own
                        self.answered_with_no_broker += 1
                    self._answered.set()
                    break  # the broker's last word on this connection
                upstream.sendall(request)
        self._drop([client, upstream])

    def _ask_unadvertised(self, request: bytes) -> bytes:
        with socket.create_connection(self.unadvertised) as unadvertised:
            unadvertised.sendall(request)
            return _read_frame(unadvertised)

    def _take_open(self) -> list[socket.socket]:
        with self._lock:
            taken, self._open = self._open, []
        return taken

    @staticmethod
    def _drop(sockets: list[socket.socket]) -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def _relay_answers(upstream: socket.socket, client: socket.socket, writing: threading.Lock) -> None:
    with contextlib.suppress(OSError):
        while True:
            answer = _read_frame(upstream)
            with writing:
                client.sendall(answer)


def _api_key(frame: bytes) -> int:
    return struct.unpack(">h", frame[4:6])[0]


def _read_frame(sock: socket.socket) -> bytes:
    """One Kafka protocol frame: a 4-byte size, then that many bytes."""
    size = _read_exactly(sock, 4)
    return size + _read_exactly(sock, struct.unpack(">i", size)[0])


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return bytes(data)
