"""An HTTP proxy in front of a ClickHouse endpoint that loses the answers to inserts.

`drop(n)` arms it: the next n INSERT requests are forwarded, ClickHouse applies them
and answers, and the proxy closes the client's connection instead of relaying the
answer. The client sees a connection lost after sending, exactly as when a network
or a load balancer fails between ClickHouse's commit and the client.

`hold(table)` arms it for the next insert into `table`: applied, and its answer
withheld until the proxy closes, so the client waits, as a worker killed after
ClickHouse wrote its insert and before it heard so.
"""

from __future__ import annotations

import re
import socket
import threading
from urllib.parse import unquote_plus


class Proxy:
    """A local TCP listener that serves each connection in a thread of its own (`_serve`)
    and refuses those `_refuses` says; subclasses set themselves up before calling
    `__init__`, which starts accepting."""

    def __init__(self, port: int = 0):
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._refuses():
                client.close()
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _refuses(self) -> bool:
        return False

    def _serve(self, client: socket.socket) -> None:
        raise NotImplementedError


class LosingProxy(Proxy):
    def __init__(self, upstream_port: int):
        self.upstream = ("127.0.0.1", upstream_port)
        self._lock = threading.Lock()
        self._to_drop = 0
        self.dropped = 0  # answers lost, each to an insert ClickHouse answered 200
        self._hold_table: str | None = None
        self.held = threading.Event()  # an answer is being withheld
        self._released = threading.Event()
        super().__init__()

    def drop(self, inserts: int) -> None:
        with self._lock:
            self._to_drop += inserts

    def hold(self, table: str) -> None:
        with self._lock:
            self._hold_table = table

    def close(self) -> None:
        self._released.set()
        super().close()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream)
        client_file, upstream_file = client.makefile("rb"), upstream.makefile("rb")
        try:
            while True:
                request = _read_message(client_file)
                if request is None:
                    return
                upstream.sendall(request)
                answer = _read_message(upstream_file)
                if answer is None:
                    return
                if self._should_drop(request, answer):
                    return  # the insert is applied; its answer never reaches the client
                if self._should_hold(request, answer):
                    self.held.set()
                    self._released.wait()
                    return
                client.sendall(answer)
        except OSError:
            return
        finally:
            for closing in (client_file, upstream_file, client, upstream):
                closing.close()

    def _should_drop(self, request: bytes, answer: bytes) -> bool:
        request_line = unquote_plus(request.split(b"\r\n", 1)[0].decode("latin-1")).upper()
        if "INSERT" not in request_line or not answer.startswith(b"HTTP/1.1 200"):
            return False
        with self._lock:
            if self._to_drop <= 0:
                return False
            self._to_drop -= 1
            self.dropped += 1
            return True


    def _should_hold(self, request: bytes, answer: bytes) -> bool:
        head, _, body = request.partition(b"\r\n\r\n")
        # The statement is in the URL, or at the start of the body before the data.
        request_line = unquote_plus(head.split(b"\r\n", 1)[0].decode("latin-1")) + body[:500].decode("latin-1")
        with self._lock:
            table = self._hold_table
            if table is None or not answer.startswith(b"HTTP/1.1 200"):
                return False
            if not re.search(rf"INSERT INTO `?{re.escape(table)}`?[ (]", request_line, re.I):
                return False
            self._hold_table = None
            return True


def _read_message(stream) -> bytes | None:
    """One HTTP/1.1 message, head and body (Content-Length or chunked), as bytes."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = stream.readline()
        if not line:
            return None
        head += line
    headers = {name.strip().lower(): value.strip() for name, _, value in
               (line.decode("latin-1").partition(":") for line in head.split(b"\r\n")[1:] if line)}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size_line = stream.readline()
            body += size_line
            size = int(size_line.split(b";")[0].strip(), 16)
            chunk = stream.read(size + 2)  # the chunk and its CRLF
            body += chunk
            if size == 0:
                return head + body
    length = int(headers.get("content-length", "0"))
    return head + (stream.read(length) if length else b"")
