"""A session notices its client is gone even while it is busy with that client's message.

A message without an ``id`` is handled inline by the session's reader, so a handler that never
returns used to keep the session (and its socket, and a place under ``max_connections``) alive
forever after its client left. Leaving by close frame, EOF or reset cancels that handler now,
and keepalive closes a connection whose reader is stuck behind one.
"""

from __future__ import annotations

import socket
import struct

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed

from trio_socketapi import Settings, SocketAPI
from trio_socketapi.testing import TestServer, client_frame, open_test_server, upgrade_request

CLIENTS = 20
FOREVER = b'{"type":"action","channel":"forever"}'


def forever_app() -> tuple[SocketAPI, list[trio.Event]]:
    """An app whose ``forever`` action never returns; each call's cancellation is recorded."""
    app = SocketAPI()
    cancelled: list[trio.Event] = []

    @app.action("forever")
    async def forever() -> None:
        done = trio.Event()
        cancelled.append(done)
        try:
            await trio.sleep_forever()
        finally:
            done.set()

    @app.action("ping")
    async def ping() -> str:
        return "pong"

    return app, cancelled


async def open_raw(server: TestServer) -> trio.abc.Stream:
    """An in-memory connection, handshake done, driven byte by byte."""
    client = await server.open_stream()
    await client.send_all(upgrade_request())
    assert (await client.receive_some()).startswith(b"HTTP/1.1 101 ")
    return client


@pytest.mark.parametrize("leaving", ["close-frame", "eof", "reset"])
async def test_clients_that_leave_during_an_endless_inline_handler_leave_no_session(
    leaving: str, autojump_clock: trio.testing.MockClock
) -> None:
    app, cancelled = forever_app()
    settings = Settings(ping_interval=None)  # not keepalive: the session itself notices
    with trio.fail_after(30):
        async with open_test_server(app, settings=settings) as server:
            clients = [await open_raw(server) for _ in range(CLIENTS)]
            for client in clients:
                await client.send_all(client_frame(0x1, FOREVER))
            await trio.testing.wait_all_tasks_blocked()
            assert len(cancelled) == CLIENTS
            assert app.counters.connections_open == CLIENTS
            for client in clients:
                if leaving == "close-frame":
                    await client.send_all(client_frame(0x8, b"\x03\xe8"))
                elif leaving == "eof":
                    assert isinstance(client, trio.StapledStream)
                    await client.send_stream.aclose()
                else:
                    await trio.aclose_forcefully(client)
            with trio.fail_after(5):  # virtual seconds: well under close_timeout + any timer
                for done in cancelled:
                    await done.wait()
            await trio.testing.wait_all_tasks_blocked()
            assert app.counters.connections_open == 0
            assert not server._server._connections
            async with server.connect() as other:  # and the server goes on serving
                assert (await other.action("ping"))["data"] == "pong"


async def test_a_client_that_leaves_while_its_reader_waits_for_max_in_flight_leaves_no_session(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app, cancelled = forever_app()
    settings = Settings(ping_interval=None, max_in_flight=2)
    with trio.fail_after(30):
        async with open_test_server(app, settings=settings) as server:
            client = await open_raw(server)
            for message_id in range(3):  # two run, the reader waits to start the third
                message = b'{"type":"action","channel":"forever","id":%d}' % message_id
                await client.send_all(client_frame(0x1, message))
            await trio.testing.wait_all_tasks_blocked()
            assert len(cancelled) == 2
            await client.send_all(client_frame(0x8, b"\x03\xe8"))
            with trio.fail_after(5):
                for done in cancelled:
                    await done.wait()
            await trio.testing.wait_all_tasks_blocked()
            assert app.counters.connections_open == 0


async def test_keepalive_closes_a_connection_stuck_behind_an_endless_inline_handler(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Messages queued behind the endless one fill trio-websocket's queue, so even the pong
    # (answered by the client library) is never read: the ping times out and closes with 1008.
    app, cancelled = forever_app()
    settings = Settings(ping_interval=5, ping_timeout=5, close_timeout=1)
    with trio.fail_after(60):
        async with open_test_server(app, settings=settings) as server, server.connect() as client:
            await client.send_text(FOREVER.decode())
            for _ in range(4):
                await client.send_text('{"type":"action","channel":"ping"}')
            start = trio.current_time()
            with pytest.raises(ConnectionClosed) as closed:
                await client.receive_json()
            assert closed.value.reason is not None
            assert closed.value.reason.code == 1008
            assert trio.current_time() - start < 5 * 1.25 + 5 + 1
            await cancelled[0].wait()
            await trio.testing.wait_all_tasks_blocked()
            assert app.counters.connections_open == 0


async def test_loopback_clients_that_reset_or_close_mid_handler_free_their_sessions() -> None:
    app, cancelled = forever_app()
    app.settings = Settings(ping_interval=None)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(app.serve, "127.0.0.1", 0)
            streams = []
            for _ in range(CLIENTS):
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                await stream.send_all(upgrade_request(host=f"127.0.0.1:{port}"))
                assert (await stream.receive_some()).startswith(b"HTTP/1.1 101 ")
                await stream.send_all(client_frame(0x1, FOREVER))
                streams.append(stream)
            while len(cancelled) < CLIENTS:  # noqa: ASYNC110 - every handler is running
                await trio.sleep(0.01)
            for index, stream in enumerate(streams):
                if index % 2:
                    await stream.send_all(client_frame(0x8, b"\x03\xe8"))  # a clean close
                    await stream.aclose()
                else:  # a reset: SO_LINGER 0 makes close() send RST
                    stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    await stream.aclose()
            for done in cancelled:
                await done.wait()
            while app.counters.connections_open:  # noqa: ASYNC110 - sessions over TCP end
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
