"""A minimal WebSocket client (RFC 6455) for the benchmarks' dashboard clients.

The benchmarks run hundreds of clients on the two cores the server they measure runs
on. `websockets` spent more CPU on each frame than daphne spends writing it
(BENCHMARKS.md), and a client that reads late adds its own delay to the latency it
reports. This one reads frames straight off an asyncio stream, answers pings, masks what
it sends as the protocol requires, and nothing more: no extensions, no fragments sent.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct

TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA
CONTINUATION = 0x0
LAST_FRAME = 0x80


class Closed(Exception):
    """The server closed the socket; `code` is its close code (1006 if none was sent)."""

    def __init__(self, code: int):
        super().__init__(f"closed with code {code}")
        self.code = code


def opening_handshake(url: str) -> bytes:
    """The opening request for `url` (ws://host:port/path), from the site's own origin."""
    host_port, _, path = url.removeprefix("ws://").partition("/")
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://{host_port}\r\n\r\n").encode()


class Connection:
    """One client socket: `receive()` the server's text messages, `send()` text."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, url: str) -> Connection:
        """Connects and completes the opening handshake; raises ConnectionError if refused."""
        host, port = url.removeprefix("ws://").split("/")[0].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(opening_handshake(url))
        try:
            response = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as error:
            writer.close()
            raise ConnectionError("the server closed the socket during the handshake") from error
        if not response.startswith(b"HTTP/1.1 101"):
            writer.close()
            raise ConnectionError(f"the socket was refused: {response.splitlines()[0]!r}")
        return cls(reader, writer)

    async def receive_bytes(self) -> bytes:
        """The next text message, undecoded (pings are answered on the way). Raises Closed."""
        parts = []
        while True:
            head = await self._read(2)
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                length = struct.unpack("!H", await self._read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", await self._read(8))[0]
            payload = await self._read(length) if length else b""
            if opcode == PING:
                self._send_frame(PONG, payload)
            elif opcode == CLOSE:
                raise Closed(struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005)
            elif opcode in (TEXT, CONTINUATION):
                parts.append(payload)
                if head[0] & LAST_FRAME:
                    return b"".join(parts)
            elif opcode != PONG:
                raise ValueError(f"unexpected opcode {opcode}")

    async def receive(self) -> str:
        return (await self.receive_bytes()).decode()

    def send(self, text: str) -> None:
        self._send_frame(TEXT, text.encode())

    def close(self) -> None:
        """Closes the TCP connection (the server sees the client go, as a closed tab)."""
        self.writer.close()

    async def _read(self, count: int) -> bytes:
        try:
            return await self.reader.readexactly(count)
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            raise Closed(1006) from error

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        # A client masks every frame it sends; the server refuses an unmasked one.
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            head = struct.pack("!BB", LAST_FRAME | opcode, 0x80 | length)
        elif length < 1 << 16:
            head = struct.pack("!BBH", LAST_FRAME | opcode, 0x80 | 126, length)
        else:
            head = struct.pack("!BBQ", LAST_FRAME | opcode, 0x80 | 127, length)
        repeated = (mask * (length // 4 + 1))[:length]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(length, "big")
        self.writer.write(head + mask + masked)
