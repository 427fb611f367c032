"""Test your app without sockets: in-memory clients over the real server and WebSocket code.

``open_test_server(app)`` runs the app's server code (handshake, sessions, dispatch, fan-out);
``server.connect()`` opens a trio-websocket client to it over ``trio.testing.memory_stream_pair``.
Nothing touches the network, so tests run under pytest-trio's ``autojump_clock``. The Python
client runs over it too: ``connect(url, connector=server.open_stream)``::

    async def test_add(autojump_clock):
        async with open_test_client(app) as client:
            assert await client.action("add", {"a": 1, "b": 2}) == {
                "type": "action", "channel": "add", "status": "completed", "data": 3}

While a test server is open, the app counts as serving in this process: awaiting a channel
function delivers to the test clients.

For hostile input the toolkit goes below JSON: ``TestClient.send_frame`` and ``send_raw`` write
WebSocket frames the client library would never send (unmasked, fragmented, bad opcodes, reserved
bits, invalid UTF-8), and ``TestServer.open_stream`` hands over the raw client end of a new
connection, before any handshake, to write ``upgrade_request()`` and anything after it byte by
byte. ``client_frame`` builds a frame from its fields, without checking them.
"""

from __future__ import annotations

import base64
import functools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pydantic_core
import trio
import trio.testing
from trio_websocket import (
    CloseReason,
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    wrap_client_stream,
)

from ._app import SocketAPI
from ._protocol import MessageId, to_json
from ._server import Server, open_server
from ._settings import Settings
from ._wire import send_frames

__all__ = [
    "TestClient",
    "TestServer",
    "client_frame",
    "open_test_client",
    "open_test_server",
    "upgrade_request",
]

DEFAULT_REMOTE = ("127.0.0.1", 50000)


def client_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    mask: bytes | None = None,
) -> bytes:
    """One client-to-server WebSocket frame (RFC 6455 section 5.2) with exactly these fields.

    ``opcode`` is the 4-bit opcode (0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong;
    any other value is sent too), ``rsv`` the three reserved bits as a number from 0 to 7, and
    ``masked=False`` leaves out the mask every client must send; ``mask`` is the 4-byte masking
    key (random unless given; ``bytes(4)`` leaves the payload as it is). Nothing else is
    checked, so the frame may break the protocol on purpose. Raises ``ValueError`` only for an
    ``opcode``, ``rsv`` or ``mask`` that does not fit its bits.
    """
    if not 0 <= opcode <= 0xF:
        raise ValueError(f"opcode must fit in 4 bits (0 to 15), got {opcode!r}")
    if not 0 <= rsv <= 0b111:
        raise ValueError(f"rsv must fit in 3 bits (0 to 7), got {rsv!r}")
    if mask is not None and len(mask) != 4:
        raise ValueError(f"mask must be 4 bytes, got {mask!r}")
    size = len(payload)
    header = bytearray([(0x80 if fin else 0) | rsv << 4 | opcode])
    mask_bit = 0x80 if masked else 0
    if size < 126:
        header.append(mask_bit | size)
    elif size < 1 << 16:
        header += bytes([mask_bit | 126]) + size.to_bytes(2, "big")
    else:
        header += bytes([mask_bit | 127]) + size.to_bytes(8, "big")
    if not masked:
        return bytes(header) + payload
    mask = os.urandom(4) if mask is None else mask
    key = (mask * (size // 4 + 1))[:size]
    body = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")
    return bytes(header) + mask + body


def upgrade_request(
    path: str = "/", *, host: str = "testserver", headers: dict[str, str] | None = None
) -> bytes:
    """An opening handshake request (RFC 6455 section 4.1) with a fresh key, to write on a
    stream from ``TestServer.open_stream``; ``headers`` are added after the required ones."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class TestClient:
    """A WebSocket client connected to a ``TestServer``; speaks JSON frames."""

    __test__ = False  # not a pytest test class

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        """The underlying trio-websocket connection, for anything the helpers do not cover."""

    async def send_json(self, message: Any) -> None:
        """Send ``message`` as one JSON text frame."""
        await self.ws.send_message(to_json(message).decode())

    async def send_text(self, text: str) -> None:
        """Send a raw text frame."""
        await self.ws.send_message(text)

    async def send_bytes(self, data: bytes) -> None:
        """Send a raw binary frame."""
        await self.ws.send_message(data)

    async def send_frame(
        self,
        opcode: int,
        payload: bytes = b"",
        *,
        fin: bool = True,
        rsv: int = 0,
        masked: bool = True,
        mask: bytes | None = None,
    ) -> None:
        """Send one frame built by ``client_frame`` from these fields, valid or not."""
        frame = client_frame(opcode, payload, fin=fin, rsv=rsv, masked=masked, mask=mask)
        await self.send_raw(frame)

    async def send_raw(self, data: bytes) -> None:
        """Write ``data`` to the connection's stream as it is, between whole frames of the
        client's own (pongs, closes), for frames the WebSocket library would never send.

        Raises ``ConnectionClosed`` once the connection is closing or closed.
        """
        await send_frames(self.ws, data)

    async def receive_json(self) -> Any:
        """The next frame from the server, parsed. Raises ``ConnectionClosed`` once closed."""
        return pydantic_core.from_json(await self.ws.get_message())

    async def request(
        self, message_type: str, channel: str, data: Any = None, *, id: MessageId | None = None
    ) -> Any:
        """Send one message (``data`` omitted when ``None``) and return the next frame."""
        message: dict[str, Any] = {"type": message_type, "channel": channel}
        if data is not None:
            message["data"] = data
        if id is not None:
            message["id"] = id
        await self.send_json(message)
        return await self.receive_json()

    async def action(self, channel: str, data: Any = None, *, id: MessageId | None = None) -> Any:
        """Call an action and return the reply frame."""
        return await self.request("action", channel, data, id=id)

    async def subscribe(
        self, channel: str, data: Any = None, *, id: MessageId | None = None
    ) -> Any:
        """Subscribe and return the reply frame (a default response follows it, if any)."""
        return await self.request("subscribe", channel, data, id=id)

    async def unsubscribe(
        self, channel: str, data: Any = None, *, id: MessageId | None = None
    ) -> Any:
        """Unsubscribe and return the reply frame."""
        return await self.request("unsubscribe", channel, data, id=id)

    async def wait_closed(self) -> CloseReason:
        """Discard frames until the server closes the connection; return why it closed."""
        while True:
            try:
                await self.ws.get_message()
            except ConnectionClosed as closed:
                assert closed.reason is not None
                return closed.reason

    async def aclose(self, code: int = 1000) -> None:
        """Close the connection from the client side."""
        await self.ws.aclose(code)


class TestServer:
    """An app's server running in memory; ``connect`` opens clients to it."""

    __test__ = False

    def __init__(self, server: Server, nursery: trio.Nursery) -> None:
        self._server = server
        self._nursery = nursery

    @asynccontextmanager
    async def connect(
        self,
        path: str = "/",
        *,
        headers: dict[str, str] | None = None,
        remote: tuple[str, int] | None = DEFAULT_REMOTE,
    ) -> AsyncIterator[TestClient]:
        """Open a client; ``remote`` is the peer address the server sees (loopback by default).

        Raises ``trio_websocket.ConnectionRejected`` if the server refuses the handshake.
        """
        client_stream = await self.open_stream(remote=remote)
        extra_headers = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        try:
            async with trio.open_nursery() as nursery:
                ws = await wrap_client_stream(
                    nursery,
                    cast(Any, client_stream),  # typed for sockets, works on any trio Stream
                    "testserver",
                    path,
                    extra_headers=extra_headers,
                    message_queue_size=1024,
                )
                try:
                    yield TestClient(ws)
                finally:
                    await ws.aclose()
        except Exception as exc:
            # trio-websocket raises a refusal from its reader task, so it arrives wrapped in
            # the nursery's exception group: hand the caller the ConnectionRejected itself.
            rejection = _find_rejection(exc)
            if rejection is None:
                raise
            raise rejection from None

    async def shutdown(self) -> None:
        """Stop serving before the block ends, as a stopping server does: close every client
        with 1001 and wait at most ``shutdown_timeout`` for their closing handshakes.

        A client that connects afterwards is dropped; the app's background tasks and lifespans
        still end only with the block.
        """
        await self._server.shutdown()

    def subscriber_count(self, channel: str) -> int:
        """Subscriptions this server holds on ``channel`` now, over all its clients and keys.

        A subscription ends with its ``unsubscribe`` reply or, when a client goes away, once
        the server has noticed (a few scheduler ticks after the client's side is closed).
        """
        return self._server.hub.subscriber_count(channel)

    async def open_stream(
        self, *, remote: tuple[str, int] | None = DEFAULT_REMOTE
    ) -> trio.abc.Stream:
        """The raw client end of a new connection to the server, before any handshake.

        Whatever is written to it reaches the server as bytes from a client at ``remote``
        (start with ``upgrade_request()``, or not); what the server answers is read from it.
        Closing it is a client that goes away; the server closes it when the test server stops.
        It is also a Python client's connector: ``connect(url, connector=server.open_stream)``.
        """
        client_stream, server_stream = trio.testing.memory_stream_pair()
        self._nursery.start_soon(
            functools.partial(self._server.handle_stream, server_stream, remote=remote)
        )
        return client_stream


def _find_rejection(exc: BaseException) -> ConnectionRejected | None:
    if isinstance(exc, ConnectionRejected):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        found = _find_rejection(inner)
        if found is not None:
            return found
    return None


@asynccontextmanager
async def open_test_server(
    app: SocketAPI, *, settings: Settings | None = None
) -> AsyncIterator[TestServer]:
    """Run ``app``'s server in memory for the duration of the block; close clients with 1001.

    The app's lifespans and background tasks run around the block as they do around ``serve``.
    """
    server = Server(app._core, settings or app.settings)
    async with open_server(server) as nursery:
        yield TestServer(server, nursery)


@asynccontextmanager
async def open_test_client(
    app: SocketAPI, path: str = "/", *, headers: dict[str, str] | None = None
) -> AsyncIterator[TestClient]:
    """A test server with one connected client: the short form for single-client tests."""
    async with open_test_server(app) as server, server.connect(path, headers=headers) as client:
        yield client
