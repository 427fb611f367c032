"""Writing pre-encoded frames to a trio-websocket connection.

trio-websocket's ``send_message`` runs wsproto's encoder for every call (about 30 µs); a broadcast
already holds the finished frame bytes (server frames are unmasked, the same for every
subscriber), and a writer that has several queued can send them in one write. So frames go
straight to the connection's stream, under the same lock trio-websocket uses for its own frames
(pongs, close), and only while wsproto says the connection is open: nothing is ever written after
a close frame. This uses two private attributes (``_stream``, ``_stream_lock``) and ``_wsproto``
of trio-websocket 0.11 to 0.12; ``tests/test_wire.py`` guards them.

``nowait_writer`` goes one step further for plain TCP: when nothing is queued or being written,
a frame is written to the socket right away with a non-blocking ``send`` (``SocketStream.socket``'s
private ``_sock``), so an idle subscriber costs one system call per broadcast and no task switch.

``ServerTransport`` wraps the transport and owns its end (``finish``; trio-websocket's own
``aclose`` of it does nothing). Ending a connection takes three steps there, on every path:

1. The close frame (1002, 1007) trio-websocket leaves out when a client breaks the WebSocket
   protocol is sent (wsproto reports the error as if the peer had closed, so trio-websocket
   would drop TCP without a close frame of its own), unless the stream is mid-frame.
2. Once the server has sent a close frame (or refused the handshake), what the client still
   sends is read and discarded until its close frame, its EOF, or ``close_timeout`` after the
   close was sent. Closing a socket with unread input makes the kernel send a reset, and a
   reset destroys what the client has not read yet: the close frame and replies before it.
   While framing is intact wsproto finds the client's close frame; after a protocol violation
   it cannot, so the tail of what arrives is checked for one instead (``ends_with_client_close``).
3. The transport is closed.

It also notes the close frame the server actually sent (``close_sent``) and the close code the
client sent (``close_received``), for the log, and holds back a first message sent along with
the handshake request until the handshake is answered (trio-websocket would otherwise leave it
unread until the client sent more). The bytes the server read before it (to tell an upgrade from
plain HTTP, see ``_http_io``) come first (``unread``).

The handshake's ``Host`` header, which wsproto moves out of the header list into its ``Request``
event, is read here too (``handshake_host``): the origin check needs it.
"""

from __future__ import annotations

import contextlib
import math
import socket
from collections.abc import Callable

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection

from ._frames import LONGEST_CLOSE_FRAME, close_frame_status, ends_with_client_close, is_close_frame
from ._protocol import CLIENT_VIOLATION_CODES

MAX_REQUEST_HEAD = 64 * 1024
"""Bytes of handshake request head looked through for its end before giving up on it."""
DISCARD_READ_SIZE = 64 * 1024
"""Bytes read per call while discarding what a closing client still sends."""


class ServerTransport(trio.abc.Stream):
    """The transport under a server-side trio-websocket connection, mending its gaps (above).

    Data that arrives in the same read as the handshake request (a client that sends its first
    message without waiting for the 101) is held back until the handshake answer has been
    sent: given to wsproto before that, it would be parsed into the new connection while
    trio-websocket's reader sat waiting for more bytes, and the message would go unanswered.
    """

    __slots__ = (
        "_answered",
        "_close_sent_at",
        "_ended",
        "_framing_lost",
        "_head",
        "_held",
        "_received",
        "close_received",
        "close_sent",
        "on_client_gone",
        "transport",
        "ws",
    )

    def __init__(self, transport: trio.abc.Stream) -> None:
        self.transport = transport
        self._received = b""  # read from the transport already, given to wsproto first
        self.ws: WebSocketConnection | None = None
        self.close_sent: tuple[int | None, str | None] | None = None
        """Status code and reason of the close frame the server sent, once it has."""
        self.close_received: int | None = None
        """The status code of the client's close frame, once one has arrived."""
        self.on_client_gone: Callable[[], object] | None = None
        """Called when the connection is over for the client's side: its close frame was
        answered (trio-websocket then calls ``aclose``), its EOF or reset was read, or a close
        frame went out; the session's reader may be too busy to notice by itself."""
        self._head: bytearray | None = bytearray()  # the request head so far; None once read
        self._held = b""  # what came after the head, until the handshake is answered
        self._answered: trio.Event | None = None  # made only when something is held
        self._close_sent_at: float | None = None  # when the close frame or refusal went out
        self._ended = False  # the client's EOF has been read, or its side is broken
        self._framing_lost = False  # a protocol violation: frames can no longer be parsed

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send on the transport, noting a close frame."""
        ws = self.ws
        # trio-websocket writes each close frame on its own, once wsproto has left OPEN.
        closing = (
            ws is not None
            and is_close_frame(data)
            and ws._wsproto.state is not ConnectionState.OPEN
        )
        try:
            await self.transport.send_all(data)
        finally:
            if self._answered is not None:  # answered, or failed trying: the reader goes on
                self._answered.set()
        if closing:
            self.close_sent = close_frame_status(data)
            self._close_sent_at = trio.current_time()
            self._client_gone()

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
            try:
                data = await self.transport.receive_some(max_bytes)
            except trio.BrokenResourceError:
                self._ended = True
                self._client_gone()
                raise
        if not data:
            self._ended = True
            self._client_gone()
        elif self._head is not None:
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

    def unread(self, received: bytes) -> None:
        """Give back bytes already read from the transport: ``receive_some`` returns them first."""
        self._received = received + self._received

    def note_refused(self) -> None:
        """Record that the handshake was answered with a refusal (what follows is discarded)."""
        self._close_sent_at = trio.current_time()
        self._framing_lost = True

    async def aclose(self) -> None:
        """Only tell the session: trio-websocket calls this, but ``finish`` ends the connection."""
        self._client_gone()
        await trio.lowlevel.checkpoint()

    def _client_gone(self) -> None:
        if self.on_client_gone is not None:
            self.on_client_gone()

    async def finish(
        self, *, frame_aligned: bool, close_timeout: float, not_after: float = math.inf
    ) -> None:
        """End the connection: the close frame a protocol error calls for, the discarding of
        what the client still sends, then the close (see the module docstring).

        Shielded from cancellation, bounded by ``close_timeout`` and by ``not_after``.
        """
        with trio.CancelScope(shield=True):
            ws = self.ws
            if ws is not None:
                state = ws._wsproto.state
                if state in (ConnectionState.REMOTE_CLOSING, ConnectionState.CLOSED):
                    self.close_received = ws.closed.code if ws.closed else None
                elif state is ConnectionState.OPEN and frame_aligned and _broken_protocol(ws):
                    await self._send_protocol_close(ws, trio.current_time() + close_timeout)
            if self._close_sent_at is not None and self._client_still_sending():
                with trio.move_on_at(min(not_after, self._close_sent_at + close_timeout)):
                    await self._discard_until_client_closes()
            await trio.aclose_forcefully(self.transport)

    async def _send_protocol_close(self, ws: WebSocketConnection, deadline: float) -> None:
        assert ws.closed is not None
        self._framing_lost = True
        with trio.move_on_at(deadline):
            async with ws._stream_lock:
                frame = ws._wsproto.send(CloseConnection(ws.closed.code, ws.closed.reason))
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await self.send_all(frame)

    def _client_still_sending(self) -> bool:
        if self._ended:
            return False
        ws = self.ws
        return ws is None or ws._wsproto.state is ConnectionState.LOCAL_CLOSING

    async def _discard_until_client_closes(self) -> None:
        """Read and drop the client's bytes until its close frame or EOF."""
        parser = None if self._framing_lost or self.ws is None else self.ws._wsproto
        look_for_close = self.ws is not None  # not after a refused handshake: EOF only
        tail = b""
        while True:
            try:
                data = await self.transport.receive_some(DISCARD_READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if not data:
                return
            if parser is not None:
                parser.receive_data(bytes(data))
                for event in parser.events():
                    if isinstance(event, CloseConnection):
                        if parser.state is ConnectionState.CLOSED:  # not a parse failure
                            self.close_received = event.code
                        return
            elif look_for_close:
                tail = (tail + data)[-LONGEST_CLOSE_FRAME:]
                if ends_with_client_close(tail):
                    return


def _broken_protocol(ws: WebSocketConnection) -> bool:
    """Whether wsproto reported a protocol violation that no close frame has answered yet.

    Such a violation reaches trio-websocket as a close event while wsproto stays OPEN.
    """
    return ws.closed is not None and ws.closed.code in CLIENT_VIOLATION_CODES


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


def nowait_writer(ws: WebSocketConnection, sock: socket.socket) -> Callable[[bytes], int]:
    """A function that writes what ``sock`` takes right now, without waiting, and returns how
    many bytes that was (the ``write_nowait`` an ``Outbox`` is built on).

    It returns 0, writing nothing, when another write holds the stream, the connection is not
    open, the socket's buffer is full or the socket failed (the queued path then meets the
    failure). A partial write leaves the stream mid-frame: the caller must queue the rest before
    anything. A closure, not a method: this runs once per subscriber per broadcast.
    """
    lock = ws._stream_lock
    send = sock.send

    def write_nowait(frames: bytes) -> int:
        # ``ws.closed`` is set before trio-websocket writes any close frame (ours or the reply
        # to the client's), and is far cheaper than asking wsproto for its state every time.
        if lock.locked() or ws.closed is not None:
            return 0
        try:
            return send(frames)
        except OSError:  # BlockingIOError included
            return 0

    return write_nowait


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
