"""Every close is delivered: the close frame, and every reply written before it, reach the client.

A client that breaks the protocol, or is closed by the server, while it is still sending used to
be reset (the server closed its socket with unread input), and a reset destroys what the client
has not read yet; some protocol-error paths sent no close frame at all. These tests attack over
loopback with a client that reads slowly (a small ``SO_RCVBUF``, so a big reply is still in the
server's socket buffer when the close happens) and keeps sending after its violation, 200 times
for each way of closing; not one may lose the close frame or a byte of the reply.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import attrs
import pytest
import trio

from trio_socketapi import Connection, HandshakeRefused, Settings, SocketAPI
from trio_socketapi.testing import client_frame, upgrade_request

TRIES = 200
CONCURRENT = 20
MAX_MESSAGE_SIZE = 16 * 1024
REPLY_CHARS = 20_000
BLOB = b'{"type":"action","channel":"blob"}'
REPLY = b'{"type":"action","channel":"blob","status":"completed","data":"' + b"x" * REPLY_CHARS
REFUSAL = "Sign in first. " * 1500
AFTER_VIOLATION = 128 * 1024
"""Bytes the client sends after its violation (more than the server reads in one go)."""


def unmasked_frame(opcode: int, payload: bytes) -> bytes:
    """A frame as a client sends it, but with an all-zero mask: readable in a packet dump, and
    its tail never looks like a close frame to a server whose framing is lost."""
    return client_frame(opcode, payload, mask=bytes(4))


FILLER = unmasked_frame(
    0x1, b'{"type":"action","channel":"nope","data":{"x":"' + b"p" * 900 + b'"}}'
)
FILLERS = FILLER * (AFTER_VIOLATION // len(FILLER))


def make_app() -> SocketAPI:
    app = SocketAPI(settings=Settings(max_message_size=MAX_MESSAGE_SIZE, close_timeout=5))

    @app.on_handshake
    async def refuse_private(connection: Connection) -> None:
        if connection.path == "/private":
            raise HandshakeRefused(401, REFUSAL)

    @app.action("blob")
    async def blob() -> str:
        return "x" * REPLY_CHARS

    return app


@asynccontextmanager
async def serving(app: SocketAPI) -> AsyncIterator[int]:
    async with trio.open_nursery() as nursery:
        port: int = await nursery.start(app.serve, "127.0.0.1", 0)
        yield port
        nursery.cancel_scope.cancel()


async def slow_reader(port: int) -> trio.SocketStream:
    """A loopback connection whose receive buffer is small: it takes a big reply slowly."""
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sock.connect(("127.0.0.1", port))
    return trio.SocketStream(sock)


@attrs.define
class Received:
    """What the client got, parsed: the HTTP head, then the server's frames."""

    data: bytearray = attrs.field(factory=bytearray)
    reset: bool = False

    def head(self) -> bytes:
        return bytes(self.data.partition(b"\r\n\r\n")[0])

    def frames(self) -> list[tuple[int, bytes]]:
        """The complete frames after the head, as (opcode, payload); a cut frame is dropped."""
        rest = memoryview(self.data)[len(self.head()) + 4 :]
        frames = []
        while len(rest) >= 2:
            length, start = rest[1] & 0x7F, 2
            if length == 126:
                length, start = struct.unpack("!H", rest[2:4])[0], 4
            elif length == 127:
                length, start = struct.unpack("!Q", rest[2:10])[0], 10
            if len(rest) < start + length:
                break
            frames.append((rest[0] & 0x0F, bytes(rest[start : start + length])))
            rest = rest[start + length :]
        return frames

    def accepted(self) -> bool:
        return self.head().startswith(b"HTTP/1.1 101 ")

    def reply_started(self) -> bool:
        return b"\r\n\r\n" in self.data and len(self.data) > len(self.head()) + 4 + 10

    def complete(self) -> bool:
        """Whether the close frame, or the whole refusal, has arrived."""
        if b"\r\n\r\n" not in self.data:
            return False
        if self.accepted():
            return self.close_code() is not None
        lengths = [
            int(line.partition(b":")[2])
            for line in self.head().lower().split(b"\r\n")
            if line.startswith(b"content-length:")
        ]
        return bool(lengths) and len(self.data) - len(self.head()) - 4 >= lengths[0]

    def close_code(self) -> int | None:
        closes = [payload for opcode, payload in self.frames() if opcode == 0x8]
        return struct.unpack("!H", closes[0][:2])[0] if closes else None


async def read_until_closed(
    stream: trio.SocketStream, received: Received, sent: trio.Event, answer: bool
) -> None:
    """Read everything. Once the server's close frame (or its refusal) is in and the client
    has sent all it meant to, answer with the client's close frame (``answer``) or with EOF,
    as clients do, and read on until the server closes."""
    answered = False
    while True:
        try:
            chunk = await stream.receive_some(1024)
        except trio.BrokenResourceError:
            received.reset = True
            return
        if not chunk:
            return
        received.data += chunk
        if not answered and received.complete():
            answered = True
            await sent.wait()
            try:
                if answer and received.accepted():
                    await stream.send_all(client_frame(0x8, struct.pack("!H", 1000)))
                else:
                    await stream.send_eof()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass


async def send_then_set(stream: trio.SocketStream, data: bytes, sent: trio.Event) -> None:
    try:
        await stream.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # before the fix the server reset the connection; the reader tells the story
    finally:
        sent.set()


async def violate_after_a_big_reply(port: int, violation: bytes, answer: bool) -> Received:
    """Open, ask for a 20 KB reply, and as it starts arriving break the protocol and go on
    sending; read everything the server sends."""
    stream = await slow_reader(port)
    received = Received()
    async with stream:
        await stream.send_all(upgrade_request(host=f"127.0.0.1:{port}") + unmasked_frame(0x1, BLOB))
        while not received.reply_started():  # the reply is on the wire: it must arrive whole
            received.data += await stream.receive_some(1024)
        sent = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send_then_set, stream, violation + FILLERS, sent)
            await read_until_closed(stream, received, sent, answer)
    return received


async def refused_with_data_after(port: int, answer: bool) -> Received:
    """A handshake the server refuses with a 21 KB body, and a client that keeps sending
    frames until it has read the whole refusal (or 2 MB)."""
    stream = await slow_reader(port)
    received = Received()
    sent = trio.Event()

    async def keep_sending() -> None:
        try:
            await stream.send_all(upgrade_request("/private", host=f"127.0.0.1:{port}"))
            for _ in range(16):
                if received.complete():
                    break
                await stream.send_all(FILLERS)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            sent.set()

    async with stream, trio.open_nursery() as nursery:
        nursery.start_soon(keep_sending)
        await read_until_closed(stream, received, sent, answer)
    return received


async def run_tries(
    port: int, attempt: Callable[..., Awaitable[Received]], *args: object
) -> list[Received]:
    """``TRIES`` attempts, ``CONCURRENT`` at a time, half answering with a close frame."""
    results: list[Received] = []
    limit = trio.Semaphore(CONCURRENT)

    async def one(index: int) -> None:
        async with limit:
            results.append(await attempt(port, *args, index % 2 == 0))

    async with trio.open_nursery() as nursery:
        for index in range(TRIES):
            nursery.start_soon(one, index)
    return results


VIOLATIONS = [
    pytest.param(client_frame(0x1, b"\xff"), 1007, id="invalid-utf8"),
    pytest.param(b"\x81\x05hello", 1002, id="unmasked"),
    pytest.param(client_frame(0x3, b"{}"), 1002, id="reserved-opcode"),
    pytest.param(b"\xc1" + client_frame(0x1, b"{}")[1:], 1002, id="rsv1"),
    pytest.param(client_frame(0x8, struct.pack("!H", 999)), 1002, id="bad-close-code"),
    pytest.param(unmasked_frame(0x1, b"x" * (MAX_MESSAGE_SIZE + 1)), 1009, id="over-size"),
    pytest.param(
        unmasked_frame(0x1, "€".encode() * (MAX_MESSAGE_SIZE // 3 + 10)), 1009, id="over-size-bytes"
    ),
]


@pytest.mark.parametrize(("violation", "code"), VIOLATIONS)
async def test_a_violation_while_sending_gets_the_close_frame_and_the_whole_reply(
    violation: bytes, code: int
) -> None:
    with trio.fail_after(60):
        async with serving(make_app()) as port:
            results = await run_tries(port, violate_after_a_big_reply, violation)
    lost = [r for r in results if r.close_code() != code or r.frames()[0] != (0x1, REPLY + b'"}')]
    assert not lost, (
        f"{len(lost)} of {TRIES} lost the close frame or the reply; first: {lost[0].frames()[-1:]}"
        f" after {len(lost[0].data)} bytes, reset={lost[0].reset}"
    )
    assert not any(r.reset for r in results)


async def test_a_refused_handshake_with_data_after_it_gets_the_whole_refusal() -> None:
    app = make_app()
    with trio.fail_after(60):
        async with serving(app) as port:
            results = await run_tries(port, refused_with_data_after)
    assert app.counters.handshakes_refused == TRIES
    cut = [
        r
        for r in results
        if not (r.head().startswith(b"HTTP/1.1 401 ") and r.data.endswith(REFUSAL.encode()))
    ]
    assert not cut, f"{len(cut)} of {TRIES} lost the refusal: {bytes(cut[0].data[:200])!r}"
    assert not any(r.reset for r in results)


async def test_shutdown_while_clients_send_gets_each_the_1001_close_and_the_whole_reply() -> None:
    # A close the server starts (1001 here; 1008 and 1013 take the same path) while each of
    # TRIES slow-reading clients has a 20 KB reply on the wire and then sends 128 KB more.
    app = make_app()
    results: list[Received] = []
    ready = 0
    go = trio.Event()

    async def client(port: int, answer: bool) -> None:
        nonlocal ready
        stream = await slow_reader(port)
        received = Received()
        async with stream:
            await stream.send_all(
                upgrade_request(host=f"127.0.0.1:{port}") + unmasked_frame(0x1, BLOB)
            )
            while not received.reply_started():
                received.data += await stream.receive_some(1024)
            ready += 1
            await go.wait()
            sent = trio.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(send_then_set, stream, FILLERS, sent)
                await read_until_closed(stream, received, sent, answer)
        results.append(received)

    with trio.fail_after(60):
        async with trio.open_nursery() as clients, trio.open_nursery() as serving:
            port = await serving.start(app.serve, "127.0.0.1", 0)
            for index in range(TRIES):
                clients.start_soon(client, port, index % 2 == 0)
            while ready < TRIES:  # noqa: ASYNC110 - every reply is on the wire
                await trio.sleep(0.01)
            go.set()
            serving.cancel_scope.cancel()  # shutdown: 1001 to everyone
    lost = [r for r in results if r.close_code() != 1001 or r.frames()[0] != (0x1, REPLY + b'"}')]
    assert len(results) == TRIES
    assert not lost, f"{len(lost)} of {TRIES} lost the close frame or the reply"
    assert not any(r.reset for r in results)
