"""Writing pre-encoded frames to a trio-websocket connection.

trio-websocket's ``send_message`` runs wsproto's encoder for every call (about 30 µs); a broadcast
already holds the finished frame bytes (server frames are unmasked, the same for every
subscriber), and a writer that has several queued can send them in one write. So frames go
straight to the connection's stream, under the same lock trio-websocket uses for its own frames
(pongs, close), and only while wsproto says the connection is open: nothing is ever written after
a close frame. This uses two private attributes (``_stream``, ``_stream_lock``) and ``_wsproto``
of trio-websocket 0.11 to 0.12; ``tests/test_wire.py`` guards them.

``write_nowait`` goes one step further for plain TCP: when nothing is queued or being written,
a frame is written to the socket right away with a non-blocking ``send`` (``SocketStream.socket``'s
private ``_sock``), so an idle subscriber costs one system call per broadcast and no task switch.

``ServerTransport`` wraps the transport to send the close frame (1002, 1007) that
trio-websocket leaves out when a client breaks the WebSocket protocol: wsproto reports the error
as if the peer had closed, so trio-websocket drops TCP without a close frame of its own. It also
holds back a first message sent along with the handshake request until the handshake is
answered (trio-websocket would otherwise leave it unread until the client sent more). The bytes
the server read before it (to tell an upgrade from plain HTTP, see ``_http_io``) come first.

The handshake's ``Host`` header, which wsproto moves out of the header list into its ``Request``
event, is read here too (``handshake_host``): the origin check needs it.
"""

from __future__ import annotations

import contextlib
import socket

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection

from ._protocol import CLIENT_VIOLATION_CODES

CLOSE_FRAME_TIMEOUT = 1.0
"""Seconds spent trying to send that close frame before the TCP connection is dropped."""
MAX_REQUEST_HEAD = 64 * 1024
"""Bytes of handshake request head looked through for its end before giving up on it."""


class ServerTransport(trio.abc.Stream):
    """The transport under a server-side trio-websocket connection, mending two of its gaps.

    Data that arrives in the same read as the handshake request (a client that sends its first
    message without waiting for the 101) is held back until the handshake answer has been
    sent: given to wsproto before that, it would be parsed into the new connection while
    trio-websocket's reader sat waiting for more bytes, and the message would go unanswered.
    And after a protocol error it sends the close frame trio-websocket leaves out (see above).
    """

    __slots__ = ("_answered", "_head", "_held", "_received", "transport", "ws")

    def __init__(self, transport: trio.abc.Stream, received: bytes = b"") -> None:
        self.transport = transport
        self._received = received  # read from the transport already, given to wsproto first
        self.ws: WebSocketConnection | None = None
        self._head: bytearray | None = bytearray()  # the request head so far; None once read
        self._held = b""  # what came after the head, until the handshake is answered
        self._answered: trio.Event | None = None  # made only when something is held

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send on the transport."""
        try:
            await self.transport.send_all(data)
        finally:
            if self._answered is not None:  # answered, or failed trying: the reader goes on
                self._answered.set()

    async def wait_send_all_might_not_block(self) -> None:
        """Wait on the transport."""
        await self.transport.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        """Receive from the transport; bytes sent along with the handshake request come once
        the handshake has been answered."""
        if self._answered is not None and self._held:
            await self._answered.wait()
            size = len(self._held) if max_bytes is None else max_bytes
            held, self._held = self._held[:size], self._held[size:]
            return held
        data: bytes | bytearray
        if self._received:
            size = len(self._received) if max_bytes is None else max_bytes
            data, self._received = self._received[:size], self._received[size:]
        else:
            data = await self.transport.receive_some(max_bytes)
        if self._head is not None and data:
            return self._hold_after_head(data)
        return data

    def _hold_after_head(self, data: bytes | bytearray) -> bytes | bytearray:
        """Return the part of ``data`` up to the end of the request head; hold the rest."""
        head = self._head
        assert head is not None
        searched_to = max(0, len(head) - 3)  # the blank line may straddle two reads
        head += data
        end = head.find(b"\r\n\r\n", searched_to)
        if end < 0:
            if len(head) > MAX_REQUEST_HEAD:
                self._head = None  # not a request we can serve: let the parser refuse it
            return data
        self._head = None
        cut = end + 4 - (len(head) - len(data))
        if cut < len(data):
            self._held = bytes(data[cut:])
            self._answered = trio.Event()
        return data[:cut]

    async def aclose(self) -> None:
        """Send the close frame a protocol error calls for (if none was sent), then close."""
        ws = self.ws
        closed = ws.closed if ws is not None else None
        if (
            ws is not None
            and closed is not None
            and closed.code in CLIENT_VIOLATION_CODES
            and ws._wsproto.state is ConnectionState.OPEN
        ):
            with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_FRAME_TIMEOUT):
                async with ws._stream_lock:
                    frame = ws._wsproto.send(CloseConnection(closed.code, closed.reason))
                    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                        await self.transport.send_all(frame)
        await self.transport.aclose()


async def send_frames(ws: WebSocketConnection, frames: bytes) -> None:
    """Write already-encoded frames, in order with trio-websocket's own.

    Raises ``ConnectionClosed`` if the connection is closing or the transport is gone.
    """
    async with ws._stream_lock:
        if ws._wsproto.state is not ConnectionState.OPEN:
            raise ConnectionClosed(ws.closed)
        try:
            await ws._stream.send_all(frames)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise ConnectionClosed(ws.closed) from None


def handshake_host(request: WebSocketRequest) -> str | None:
    """The ``Host`` header of a handshake (wsproto keeps it out of ``request.headers``)."""
    host = getattr(request._event, "host", None)
    return host if isinstance(host, str) else None


def raw_socket(ws: WebSocketConnection) -> socket.socket | None:
    """The connection's OS socket when it runs over plain TCP (not TLS, not in memory)."""
    stream = ws._stream
    if isinstance(stream, ServerTransport):
        stream = stream.transport
    if type(stream) is not trio.SocketStream:
        return None
    sock = getattr(stream.socket, "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def write_nowait(ws: WebSocketConnection, sock: socket.socket, frames: bytes) -> int:
    """Write what the socket takes right now, without waiting; return how many bytes that was.

    Returns 0, writing nothing, when another write holds the stream, the connection is not open,
    the socket's buffer is full or the socket failed (the queued path then meets the failure).
    A partial write leaves the stream mid-frame: the caller must queue the rest before anything.
    """
    # ``ws.closed`` is set before trio-websocket writes any close frame (ours or the reply to
    # the client's), and is far cheaper than asking wsproto for its state on every broadcast.
    if ws._stream_lock.locked() or ws.closed is not None:
        return 0
    try:
        return sock.send(frames)
    except OSError:  # BlockingIOError included
        return 0


def peer_address(stream: trio.abc.Stream) -> tuple[str, int] | None:
    """The remote (address, port) of a TCP or TLS-over-TCP stream; ``None`` for others."""
    if isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    if not isinstance(stream, trio.SocketStream):
        return None
    address = stream.socket.getpeername()
    if not isinstance(address, tuple):
        return None
    return (str(address[0]).removeprefix("::ffff:"), int(address[1]))  # IPv4-mapped IPv6


def release_handshake_state(ws: WebSocketConnection) -> None:
    """Drop wsproto's handshake state once the connection is open (about 2 KB a connection).

    wsproto keeps its handshake object for the life of the connection but, once open, only
    reads its event queue, which the handshake no longer fills; the h11 connection inside it is
    never used again. The spent queue becomes an empty tuple, which reads as empty the same way.
    """
    protocol = ws._wsproto
    handshake = protocol.handshake
    if protocol.connection is None or not hasattr(handshake, "_h11_connection"):
        return
    handshake._h11_connection = None  # type: ignore[assignment]
    if not handshake._events:  # anything still queued is left for trio-websocket to read
        handshake._events = ()  # type: ignore[assignment]
