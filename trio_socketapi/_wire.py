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

The handshake's ``Host`` header, which wsproto moves out of the header list into its ``Request``
event, is read here too (``handshake_host``): the origin check needs it.
"""

from __future__ import annotations

import socket

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest
from wsproto.connection import ConnectionState


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
    if ws._stream_lock.locked() or ws._wsproto.state is not ConnectionState.OPEN:
        return 0
    try:
        return sock.send(frames)
    except OSError:  # BlockingIOError included
        return 0
