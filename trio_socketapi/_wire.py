"""The server's end of one connection's bytes: the transport, the handshake, and their close.

``ServerTransport`` wraps the transport and owns its end (``finish``). Ending a connection takes
two steps there, on every path:

1. Once the server has sent a close frame (or refused the handshake), what the client still
   sends is read and discarded until its close frame, its EOF, or ``close_timeout`` after the
   close was sent. Closing a socket with unread input makes the kernel send a reset, and a
   reset destroys what the client has not read yet: the close frame and replies before it.
   While framing is intact ``WebSocketProtocol.discard`` finds the client's close frame; after
   a protocol violation it cannot, so the tail of what arrives is checked for one instead
   (``ends_with_client_close``).
2. The transport is closed.

``read_upgrade_request``, ``refuse`` and ``accept`` run the opening handshake on wsproto's own
objects: the request head the server has already read (see ``_http_io``) goes to wsproto's
handshake, and any bytes the client sent after it, without waiting for the 101, become the first
bytes the open connection parses (``UpgradeRequest.after_head``).

For the write path, ``raw_socket`` and ``nowait_writer`` reach the OS socket under trio's
``SocketStream`` (its private ``_sock``; ``tests/test_fast_path.py`` guards it), so a frame for an
idle client is one non-blocking ``send``, no task switch. ``send_frames`` is the test client's
write of pre-encoded frames through trio-websocket (its ``_stream``, ``_stream_lock`` and
``_wsproto``, versions 0.11 to 0.12; ``tests/test_wire.py`` guards them).
"""

from __future__ import annotations

import contextlib
import errno
import math
import socket
from collections.abc import Callable

import attrs
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection
from wsproto.connection import Connection as WsprotoConnection
from wsproto.connection import ConnectionState, ConnectionType
from wsproto.events import (
    AcceptConnection,
    RejectConnection,
    RejectData,
    Request,
)
from wsproto.handshake import H11Handshake
from wsproto.utilities import RemoteProtocolError

from ._frames import LONGEST_CLOSE_FRAME, close_frame_status, ends_with_client_close
from ._websocket import WebSocketProtocol

MAX_REQUEST_HEAD = 64 * 1024
"""Bytes of handshake request head looked through for its end before giving up on it."""
DISCARD_READ_SIZE = 64 * 1024
"""Bytes read per call while discarding what a closing client still sends."""
DEFAULT_READ_SIZE = 64 * 1024
"""Bytes asked of the socket per read when the caller does not say."""


class ServerTransport(trio.abc.Stream):
    """The transport under one server connection: notes its end, and closes it (above)."""

    __slots__ = (
        "_close_sent_at",
        "_drained",
        "_ended",
        "_sock",
        "close_sent",
        "protocol",
        "transport",
    )

    def __init__(self, transport: trio.abc.Stream) -> None:
        self.transport = transport
        self._sock = _os_socket(transport)  # read directly when there is one (see below)
        self.protocol: WebSocketProtocol | None = None
        """The WebSocket protocol, once the handshake has been accepted."""
        self.close_sent: tuple[int | None, str | None] | None = None
        """Status code and reason of the close frame the server sent, once it has."""
        self._close_sent_at: float | None = None  # when the close frame or refusal went out
        self._ended = False  # the client's EOF has been read, or its side is broken
        self._drained = False  # the last read came back short: wait for readiness first

    @property
    def close_received(self) -> int | None:
        """The status code of the client's close frame, once one has arrived."""
        return None if self.protocol is None else self.protocol.close_received

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send on the transport."""
        await self.transport.send_all(data)

    async def send_close_frame(self, frame: bytes) -> None:
        """Send the connection's close frame and note it (what follows is discarded)."""
        await self.transport.send_all(frame)
        self.close_sent = close_frame_status(frame)
        self._close_sent_at = trio.current_time()

    async def wait_send_all_might_not_block(self) -> None:
        """Wait on the transport."""
        await self.transport.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        """Receive from the transport, noting the client's EOF or reset."""
        try:
            if self._sock is None:
                data = await self.transport.receive_some(max_bytes)
            else:
                data = await self._receive_from_socket(max_bytes or DEFAULT_READ_SIZE)
        except trio.BrokenResourceError:
            self._ended = True
            raise
        if not data:
            self._ended = True
        return data

    async def _receive_from_socket(self, max_bytes: int) -> bytes:
        """``SocketStream.receive_some`` on its OS socket, without its per-call context manager
        and conflict detector (a session never reads from two tasks at once): the same
        checkpoints, the same exceptions, a fifth less of the read path's CPU.

        After a read that came back short the socket is most likely drained, so the next read
        waits for it to be readable before calling ``recv``, as an asyncio server does, instead
        of trying first and getting EAGAIN. That is one system call fewer per request. It also
        means a client whose bytes were already waiting no longer gets ahead of the clients
        that had to wait (docs/performance.md).
        """
        sock = self._sock
        assert sock is not None
        try:
            if not self._drained:
                await trio.lowlevel.checkpoint_if_cancelled()
                try:
                    data = sock.recv(max_bytes)
                except BlockingIOError:
                    pass
                else:
                    self._drained = len(data) < max_bytes
                    await trio.lowlevel.cancel_shielded_checkpoint()
                    return data
            while True:
                if sock.fileno() < 0:  # epoll would refuse it with a ValueError
                    raise trio.ClosedResourceError("the socket was closed")
                await trio.lowlevel.wait_readable(sock)
                try:
                    data = sock.recv(max_bytes)
                except BlockingIOError:
                    continue
                self._drained = len(data) < max_bytes
                return data
        except OSError as error:
            if error.errno == errno.EBADF:
                raise trio.ClosedResourceError("the socket was closed") from None
            raise trio.BrokenResourceError from error

    def note_refused(self) -> None:
        """Record that the handshake was answered with a refusal (what follows is discarded)."""
        self._close_sent_at = trio.current_time()

    async def aclose(self) -> None:
        """Close the transport at once (``finish`` is the orderly end)."""
        await trio.aclose_forcefully(self.transport)

    async def finish(self, *, close_timeout: float, not_after: float = math.inf) -> None:
        """End the connection: the discarding of what the client still sends after the
        server's close frame or refusal, then the close (see the module docstring).

        Shielded from cancellation, bounded by ``close_timeout`` and by ``not_after``.
        """
        with trio.CancelScope(shield=True):
            if self._close_sent_at is not None and self._client_still_sending():
                with trio.move_on_at(min(not_after, self._close_sent_at + close_timeout)):
                    await self._discard_until_client_closes()
            await trio.aclose_forcefully(self.transport)

    def _client_still_sending(self) -> bool:
        if self._ended:
            return False
        protocol = self.protocol
        return protocol is None or protocol.connection.state is ConnectionState.LOCAL_CLOSING

    async def _discard_until_client_closes(self) -> None:
        """Read and drop the client's bytes until its close frame or EOF."""
        protocol = self.protocol
        parser = None if protocol is None or protocol.framing_lost else protocol
        look_for_close = protocol is not None  # not after a refused handshake: EOF only
        tail = b""
        while True:
            try:
                data = await self.transport.receive_some(DISCARD_READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if not data:
                return
            if parser is not None:
                if parser.discard(data):
                    return
            elif look_for_close:
                tail = (tail + data)[-LONGEST_CLOSE_FRAME:]
                if ends_with_client_close(tail):
                    return


@attrs.frozen
class UpgradeRequest:
    """A client's WebSocket upgrade request, parsed by wsproto and not yet answered."""

    handshake: H11Handshake
    event: Request
    after_head: bytes
    """What the client sent after the request head, without waiting for the answer."""

    @property
    def path(self) -> str:
        """The request target."""
        return self.event.target

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """The request's headers but ``Host``, names lower-cased (as h11 gives them)."""
        return list(self.event.extra_headers)

    @property
    def host(self) -> str | None:
        """The ``Host`` header (wsproto keeps it out of ``headers``)."""
        return self.event.host


async def read_upgrade_request(
    transport: ServerTransport, received: bytes
) -> UpgradeRequest | None:
    """Parse the upgrade request whose head (and maybe more) is ``received``; a request wsproto
    cannot accept is answered with its refusal (400 saying what is wrong, or 426 for a WebSocket
    version it does not speak) and ``None`` returned."""
    end = received.find(b"\r\n\r\n") + 4
    handshake = H11Handshake(ConnectionType.SERVER)
    try:
        handshake.receive_data(received[:end])
        event = next(handshake.events(), None)
    except RemoteProtocolError as error:
        hint = error.event_hint
        status, headers, body = 400, [], str(error).encode()
        if isinstance(hint, RejectConnection):  # 426 names the versions spoken
            status, headers = hint.status_code, list(hint.headers)
        if status == 426:  # wsproto's message would say the header is missing
            body = b"Unsupported Sec-WebSocket-Version: this server speaks 13"
        await _send_refusal(transport, handshake, status, body, headers)
        return None
    if not isinstance(event, Request):  # a complete head is a request or an error
        await _send_refusal(transport, handshake, 400, b"Bad Request")
        return None
    return UpgradeRequest(handshake, event, received[end:])


async def refuse(
    transport: ServerTransport, request: UpgradeRequest, status_code: int, body: bytes
) -> None:
    """Answer the upgrade request with ``status_code`` and a plain-text ``body``."""
    await _send_refusal(transport, request.handshake, status_code, body)


async def _send_refusal(
    transport: ServerTransport,
    handshake: H11Handshake,
    status_code: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        *(headers or ()),
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode("ascii")),
    ]
    refusal = RejectConnection(status_code=status_code, headers=headers, has_body=True)
    data = handshake.send(refusal) + handshake.send(RejectData(body))
    transport.note_refused()
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await transport.send_all(data)


async def accept(transport: ServerTransport, request: UpgradeRequest) -> WsprotoConnection:
    """Answer the upgrade request with 101 and return the open connection's wsproto object."""
    data = request.handshake.send(AcceptConnection())
    connection = request.handshake.connection
    assert connection is not None
    await transport.send_all(data)
    return connection


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


def raw_socket(transport: ServerTransport) -> socket.socket | None:
    """The connection's OS socket when it runs over plain TCP (not TLS, not in memory)."""
    return _os_socket(transport.transport)


def _os_socket(stream: trio.abc.Stream) -> socket.socket | None:
    if type(stream) is not trio.SocketStream:
        return None
    sock = getattr(stream.socket, "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def nowait_writer(sock: socket.socket) -> Callable[[bytes], int]:
    """A function that writes what ``sock`` takes right now, without waiting, and returns how
    many bytes that was (the ``write_nowait`` an ``Outbox`` is built on).

    It returns 0, writing nothing, when the socket's buffer is full or the socket failed (the
    queued path then meets the failure). A partial write leaves the stream mid-frame: the caller
    must queue the rest before anything. Every frame of a session goes through its outbox, so
    nothing else writes in between.
    """
    send = sock.send

    def write_nowait(frames: bytes) -> int:
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
