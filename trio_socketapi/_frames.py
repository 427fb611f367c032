"""WebSocket frame encoding for server-to-client text frames (RFC 6455, section 5.2).

A server's frames are not masked, so a frame's bytes depend only on its payload: a broadcast
encodes its frame once and hands the same bytes to every subscriber's outbox.
"""

from __future__ import annotations

import struct

_FIN_TEXT = 0x81  # FIN bit set, opcode 0x1 (text)


def text_frame(payload: bytes) -> bytes:
    """One complete, unmasked text frame carrying ``payload`` (UTF-8 JSON)."""
    length = len(payload)
    if length < 126:
        header = bytes((_FIN_TEXT, length))
    elif length < 1 << 16:
        header = struct.pack("!BBH", _FIN_TEXT, 126, length)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, length)
    return header + payload
