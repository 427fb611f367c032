"""Writing pre-encoded frames to a trio-websocket connection.

trio-websocket's ``send_message`` runs wsproto's encoder for every call (about 30 µs); a broadcast
already holds the finished frame bytes (server frames are unmasked, the same for every
subscriber), and a writer that has several queued can send them in one write. So frames go
straight to the connection's stream, under the same lock trio-websocket uses for its own frames
(pongs, close), and only while wsproto says the connection is open: nothing is ever written after
a close frame. This uses two private attributes (``_stream``, ``_stream_lock``) and ``_wsproto``
of trio-websocket 0.11 to 0.12; ``tests/test_wire.py`` guards them.

The handshake's ``Host`` header, which wsproto moves out of the header list into its ``Request``
event, is read here too (``handshake_host``): the origin check needs it.
"""

from __future__ import annotations

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
