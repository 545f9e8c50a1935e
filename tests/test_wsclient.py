"""The benchmarks' minimal WebSocket client (harness/wsclient.py): its framing, byte for byte."""

import asyncio
import struct

import pytest

from harness.wsclient import CLOSE, CONTINUATION, LAST_FRAME, PING, PONG, TEXT, Closed, Connection


def server_frame(opcode: int, payload: bytes, last: bool = True) -> bytes:
    """A frame as a server sends it: not masked."""
    first = (LAST_FRAME if last else 0) | opcode
    if len(payload) < 126:
        return struct.pack("!BB", first, len(payload)) + payload
    if len(payload) < 1 << 16:
        return struct.pack("!BBH", first, 126, len(payload)) + payload
    return struct.pack("!BBQ", first, 127, len(payload)) + payload


def client_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, unmasked payload) of each frame a client wrote; asserts each is masked."""
    frames = []
    while data:
        assert data[1] & 0x80, "a client frame must be masked"
        length, at = data[1] & 0x7F, 2
        if length == 126:
            length, at = struct.unpack("!H", data[2:4])[0], 4
        elif length == 127:
            length, at = struct.unpack("!Q", data[2:10])[0], 10
        mask, payload = data[at:at + 4], data[at + 4:at + 4 + length]
        frames.append((data[0] & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(payload))))
        data = data[at + 4 + length:]
    return frames


class Written:
    def __init__(self):
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        pass


def connection_reading(data: bytes) -> tuple[Connection, Written]:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    written = Written()
    return Connection(reader, written), written  # type: ignore[arg-type]


async def test_messages_of_every_length_and_in_fragments_are_read_whole():
    long_text, longer_text = "x" * 300, "y" * 70_000
    connection, _ = connection_reading(
        server_frame(TEXT, b"short") + server_frame(TEXT, long_text.encode())
        + server_frame(TEXT, longer_text.encode())
        + server_frame(TEXT, b"frag", last=False) + server_frame(CONTINUATION, b"mented"))
    assert [await connection.receive() for _ in range(4)] == ["short", long_text, longer_text, "fragmented"]


async def test_a_ping_is_answered_with_its_payload_and_reading_goes_on():
    connection, written = connection_reading(server_frame(PING, b"keepalive") + server_frame(TEXT, b"after"))
    assert await connection.receive() == "after"
    assert client_frames(written.data) == [(PONG, b"keepalive")]


async def test_the_close_code_is_reported_and_a_cut_connection_is_1006():
    connection, _ = connection_reading(server_frame(CLOSE, struct.pack("!H", 4503) + b"resync"))
    with pytest.raises(Closed) as closed:
        await connection.receive()
    assert closed.value.code == 4503
    connection, _ = connection_reading(server_frame(TEXT, b"cut short")[:5])
    with pytest.raises(Closed) as cut:
        await connection.receive()
    assert cut.value.code == 1006


@pytest.mark.parametrize("length", [0, 5, 125, 126, 65_535, 65_536])
def test_what_a_client_sends_is_masked_and_unmasks_to_the_text(length):
    connection, written = connection_reading(b"")
    text = ("ack" * length)[:length]
    connection.send(text)
    assert client_frames(written.data) == [(TEXT, text.encode())]
