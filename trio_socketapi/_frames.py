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


_FIN_CLOSE = 0x88  # FIN bit set, opcode 0x8 (close)
_MASKED = 0x80
LONGEST_CLOSE_FRAME = 2 + 4 + 125
"""Bytes in the longest masked close frame: a control frame's payload is at most 125 bytes."""


def is_close_frame(data: bytes | bytearray | memoryview) -> bool:
    """Whether ``data`` is exactly one unmasked (server) close frame."""
    return len(data) >= 2 and data[0] == _FIN_CLOSE and len(data) == 2 + data[1]


def close_frame_status(data: bytes | bytearray | memoryview) -> tuple[int | None, str | None]:
    """The status code and reason of one unmasked close frame (``None`` for what it lacks)."""
    payload = bytes(data[2:])
    if len(payload) < 2:
        return None, None
    reason = payload[2:].decode("utf-8", "replace")
    return int.from_bytes(payload[:2], "big"), reason or None


def ends_with_client_close(data: bytes | bytearray) -> bool:
    """Whether ``data`` ends with one whole masked (client) close frame.

    For a stream whose framing is lost (after a protocol violation), so the close frame's start
    can only be guessed from its end: a 0x88 byte, a masked length that reaches exactly to the
    end, and an unmasked status code in 1000-4999 (or no payload at all).
    """
    for length in (0, *range(2, 126)):
        start = len(data) - 6 - length
        if start < 0:
            break
        if data[start] != _FIN_CLOSE or data[start + 1] != _MASKED | length:
            continue
        if length == 0:
            return True
        code = ((data[start + 6] ^ data[start + 2]) << 8) | (data[start + 7] ^ data[start + 3])
        if 1000 <= code < 5000:
            return True
    return False


def text_payloads(frames: bytes) -> list[bytes]:
    """The payloads of consecutive complete frames made by ``text_frame`` (for a transport, such
    as ASGI, that takes messages rather than wire bytes). Raises ``ValueError`` on anything else.
    """
    payloads = []
    view = memoryview(frames)
    at = 0
    while at < len(view):
        if view[at] != _FIN_TEXT or at + 2 > len(view):
            raise ValueError("not a text frame made by text_frame()")
        length = view[at + 1]
        at += 2
        if length == 126:
            (length,) = struct.unpack_from("!H", view, at)
            at += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", view, at)
            at += 8
        if at + length > len(view):
            raise ValueError("truncated frame")
        payloads.append(bytes(view[at : at + length]))
        at += length
    return payloads
