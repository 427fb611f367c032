"""The bytes of a connection: frame encoding, the test client's raw write (the parts of
trio-websocket it relies on, see _wire.py), and the handshake with data after it."""

from __future__ import annotations

import socket

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed
from wsproto.connection import ConnectionState

from trio_socketapi import Connection, Settings, SocketAPI
from trio_socketapi._frames import text_frame
from trio_socketapi._wire import ServerTransport, raw_socket, send_frames
from trio_socketapi.testing import client_frame, open_test_server, upgrade_request


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_text_frame_header_lengths(size: int) -> None:
    frame = text_frame(b"x" * size)
    assert frame[0] == 0x81
    header = 2 if size < 126 else 4 if size < 65536 else 10
    assert len(frame) == header + size


async def test_trio_websocket_still_has_what_the_test_clients_raw_write_uses() -> None:
    app = SocketAPI()
    seen: list[Connection] = []

    @app.action("hello")
    async def hello(connection: Connection, name: str) -> str:
        seen.append(connection)
        return f"hi {name}"

    with trio.fail_after(5):
        async with open_test_server(app) as server, server.connect() as client:
            ws = client.ws
            assert isinstance(ws._stream_lock, trio.StrictFIFOLock)
            assert isinstance(ws._stream, trio.abc.Stream)
            assert ws._wsproto.state is ConnectionState.OPEN

            # Pre-encoded frames and trio-websocket's own frames arrive in the order written.
            one = b'{"type":"action","channel":"hello","data":{"name":"one"}}'
            two = b'{"type":"action","channel":"hello","data":{"name":"two"}}'
            await send_frames(ws, client_frame(0x1, one) + client_frame(0x1, two))
            await ws.send_message('{"type":"action","channel":"hello","data":{"name":"three"}}')
            replies = [(await client.receive_json())["data"] for _ in range(3)]
            assert replies == ["hi one", "hi two", "hi three"]
            # The Host header comes from wsproto's Request event, not the header list.
            assert seen[0].headers["host"] == "testserver"

            await client.aclose()
            with pytest.raises(ConnectionClosed):
                await send_frames(ws, client_frame(0x1, one))


UPGRADE_REQUEST = upgrade_request()


def add_app() -> SocketAPI:
    app = SocketAPI()

    @app.action("add")
    async def add(a: int, b: int) -> int:
        return a + b

    return app


FIRST = client_frame(0x1, b'{"type":"action","channel":"add","data":{"a":1,"b":2}}')
SECOND = client_frame(0x1, b'{"type":"action","channel":"add","data":{"a":3,"b":4}}')
BLANK_LINE = len(UPGRADE_REQUEST) - 4


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([UPGRADE_REQUEST + FIRST], id="all-in-one-read"),
        pytest.param([UPGRADE_REQUEST[:30], UPGRADE_REQUEST[30:] + FIRST], id="head-in-two-reads"),
        pytest.param(
            [UPGRADE_REQUEST[: BLANK_LINE + 2], UPGRADE_REQUEST[BLANK_LINE + 2 :] + FIRST],
            id="blank-line-split-across-reads",
        ),
        pytest.param([UPGRADE_REQUEST, FIRST], id="message-after-the-head"),
        pytest.param([UPGRADE_REQUEST + FIRST[:5], FIRST[5:]], id="half-a-frame-with-the-head"),
    ],
)
async def test_a_message_sent_along_with_the_upgrade_request_is_answered(
    chunks: list[bytes], autojump_clock: trio.abc.Clock
) -> None:
    # A client that does not wait for the 101 (RFC 6455 says it should) still gets its answer.
    with trio.fail_after(5):
        async with open_test_server(add_app()) as server:
            client = await server.open_stream()
            for chunk in chunks:
                await client.send_all(chunk)
                await trio.testing.wait_all_tasks_blocked()  # the server reads each on its own
            received = b""
            while b'"data":3}' not in received:
                received += await client.receive_some()
            assert received.startswith(b"HTTP/1.1 101 ")
            await client.send_all(SECOND)
            while b'"data":7}' not in received:
                received += await client.receive_some()


async def test_a_refused_handshake_with_data_after_it_is_answered_and_closed(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = add_app()
    app.settings = Settings(allowed_paths=["/ws"])
    with trio.fail_after(5):
        async with open_test_server(app) as server:
            client = await server.open_stream()
            await client.send_all(UPGRADE_REQUEST + FIRST)
            received = b""
            while chunk := await client.receive_some():
                received += chunk
            assert received.startswith(b"HTTP/1.1 404 ")
            assert b'"data"' not in received
            async with server.connect("/ws") as other:  # and the server goes on serving
                assert (await other.action("add", {"a": 2, "b": 2}))["data"] == 4


# -- ServerTransport's direct reads of the OS socket --------------------------------------------


async def socket_pair_transport() -> tuple[ServerTransport, trio.socket.SocketType]:
    ours, theirs = trio.socket.socketpair()
    return ServerTransport(trio.SocketStream(ours)), theirs


AFTER_A_READ = pytest.mark.parametrize(
    "drained", [False, True], ids=["after a full read", "after a short read"]
)


async def transport_after_one_read(drained: bool) -> tuple[ServerTransport, trio.socket.SocketType]:
    """A transport whose first read came back short (``drained``) or filled the buffer."""
    transport, peer = await socket_pair_transport()
    await peer.send(b"y" * (10 if drained else 4096))
    assert len(await transport.receive_some(4096)) == (10 if drained else 4096)
    return transport, peer


async def test_direct_reads_return_every_byte_after_short_and_full_reads() -> None:
    transport, peer = await socket_pair_transport()
    with peer:
        await peer.send(b"0123456789")
        assert await transport.receive_some(4096) == b"0123456789"  # short: waits first next
        await peer.send(b"abcde")
        assert await transport.receive_some(4096) == b"abcde"
        await peer.send(b"x" * 6000)
        first = await transport.receive_some(4096)  # full: tries recv first next
        assert first == b"x" * 4096
        assert await transport.receive_some(4096) == b"x" * 1904
        peer.shutdown(socket.SHUT_WR)
        assert await transport.receive_some(4096) == b""
    await transport.aclose()


@AFTER_A_READ
async def test_a_cancelled_direct_read_raises_cancelled_and_loses_no_bytes(drained: bool) -> None:
    transport, peer = await transport_after_one_read(drained)
    with peer:
        await peer.send(b"waiting")
        with trio.CancelScope() as scope:
            scope.cancel()
            await transport.receive_some(4096)
            pytest.fail("a cancelled read returned")  # pragma: no cover
        assert scope.cancelled_caught
        assert await transport.receive_some(4096) == b"waiting"
    await transport.aclose()


async def test_a_direct_read_waits_for_bytes_and_times_out_cleanly(autojump_clock: object) -> None:
    transport, peer = await socket_pair_transport()
    with peer:
        await peer.send(b"short")
        await transport.receive_some(4096)
        with trio.move_on_after(5) as waiting:
            await transport.receive_some(4096)
        assert waiting.cancelled_caught
        await peer.send(b"later")
        assert await transport.receive_some(4096) == b"later"
    await transport.aclose()


@AFTER_A_READ
async def test_a_direct_read_of_a_closed_socket_raises_closed_resource_error(drained: bool) -> None:
    transport, peer = await transport_after_one_read(drained)
    with peer:
        raw = raw_socket(transport)
        assert raw is not None
        raw.close()
        with pytest.raises(trio.ClosedResourceError):
            await transport.receive_some(4096)
