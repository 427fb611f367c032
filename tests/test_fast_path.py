"""The fast write path is really on over loopback TCP (see _wire.py and _outbox.py).

``raw_socket`` finds the OS socket under trio's ``SocketStream`` through a private attribute; a
rename in trio would turn the direct write off without failing anything else (every frame would
just take the slower queued path). This test fails instead.
"""

from __future__ import annotations

import functools
import socket

import trio
from trio_websocket import open_websocket

from trio_socketapi import SocketAPI
from trio_socketapi._session import Session
from trio_socketapi._wire import raw_socket
from trio_socketapi.testing import TestServer, open_test_server


def sessions(server: TestServer) -> list[Session]:
    return [s for s in server._server._connections.values() if s is not None]


async def test_raw_socket_is_found_over_loopback_tcp_and_not_in_memory() -> None:
    app = SocketAPI()

    @app.action("ping")
    async def ping() -> str:
        return "pong"

    with trio.fail_after(10):
        async with open_test_server(app) as server, trio.open_nursery() as nursery:
            serve_tcp = functools.partial(trio.serve_tcp, host="127.0.0.1")
            listeners = await nursery.start(serve_tcp, server._server.handle_stream, 0)
            port = listeners[0].socket.getsockname()[1]
            async with open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:
                await ws.send_message('{"type":"action","channel":"ping"}')
                assert "pong" in await ws.get_message()
                (tcp,) = sessions(server)
                sock = raw_socket(tcp.transport)
                assert isinstance(sock, socket.socket)
                assert sock.type == socket.SOCK_STREAM
                assert tcp._outbox._write_nowait is not None  # the direct write is in use
                async with server.connect() as client:
                    await client.action("ping")
                    (memory,) = [s for s in sessions(server) if s is not tcp]
                    assert raw_socket(memory.transport) is None
            nursery.cancel_scope.cancel()
