"""The client side of the WebSocket wire, by hand, for tests that must send what a library won't:
an upgrade request with anything after it, frames split anywhere, protocol violations."""

from __future__ import annotations

import base64
import os
import struct


def upgrade_request(host: str, path: str = "/") -> bytes:
    """An opening handshake request (RFC 6455 section 4.1) with a fresh key."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def masked_frame(
    opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None
) -> bytes:
    """A client-to-server WebSocket frame (RFC 6455 section 5.2: clients mask every frame),
    with a random mask unless one is given."""
    mask = os.urandom(4) if mask is None else mask
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", first, 0x80 | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", first, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, size)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked
