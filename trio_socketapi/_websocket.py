"""The WebSocket protocol of one open server connection, without I/O.

``WebSocketProtocol`` turns what each ``receive_some`` returns into whole messages, so that a
session reads with no task and no channel of its own (``_session.py`` feeds it):

- the common frame, a whole masked text or binary message in one frame, is split, unmasked and
  decoded here once all of it has arrived (``_simple_frame``; one longer than ``BUFFERED_FRAME``
  that spans reads is streamed through wsproto instead), because wsproto's pure-Python parser
  cost a fifth of an rpc round trip. Every other frame (control frames, fragments, reserved
  bits or opcodes, anything malformed, text that is not UTF-8) goes to wsproto whole or
  streamed, and wsproto checks it as before. The splitter only reads frame headers to know
  where each frame ends, so the two never disagree about the stream;
- assembling fragmented messages, under ``max_message_size`` counted in bytes (for a text
  message, its UTF-8 bytes, not its characters);
- the frames the protocol calls for: a pong for every ping, in ``replies``;
- how the client's side ended (``ending``): its close frame, a protocol violation that wsproto
  reported (after which the stream can no longer be parsed), or a message over the limit;
- the one close frame the server sends (``closing_frame``), and after it ``discard``, which
  skips what the client still sends until its close frame.

Every complete message of one ``receive`` is in ``messages`` before the session handles the
first of them, so a burst costs one read and no task switch per message.
"""

from __future__ import annotations

import enum
from collections import deque

from wsproto.connection import Connection, ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage

from ._protocol import CLIENT_VIOLATION_CODES

MAX_CLOSE_REASON = 123
"""UTF-8 bytes of reason a close frame has room for, after its status code."""
BUFFERED_FRAME = 16 * 1024
"""Payload bytes up to which a single-frame message split across reads is kept until whole;
a longer one is streamed through wsproto instead."""
_OPEN = ConnectionState.OPEN
_REMOTE_CLOSING = ConnectionState.REMOTE_CLOSING
_WHOLE_TEXT, _WHOLE_BINARY = 0x81, 0x82  # FIN set, no reserved bits, opcode 1 or 2
_CLOSE = 0x8
_MASKED = 0x80


class Ending(enum.Enum):
    """Why the server reads no more messages from a client."""

    CLIENT_CLOSED = "the client sent a close frame"
    VIOLATION = "the client broke the WebSocket protocol"
    TOO_BIG = "the client sent a message over the size limit"


class WebSocketProtocol:
    """wsproto's connection for one client, with messages assembled and endings told apart."""

    __slots__ = (
        "_connection",
        "_forwarding",
        "_fragmented",
        "_max_size",
        "_parts",
        "_pending",
        "_size",
        "_skipping",
        "_text_chars_unchecked",
        "close_received",
        "ending",
        "messages",
        "pongs",
        "replies",
        "violation",
    )

    def __init__(self, connection: Connection, *, max_message_size: int) -> None:
        self._connection = connection
        self._max_size = max_message_size
        # A text message of up to this many characters cannot exceed the byte limit.
        self._text_chars_unchecked = max_message_size // 4
        self._parts: list[str] | list[bytes] = []  # a fragmented message so far
        self._size = 0  # its bytes (characters, for text: a lower bound)
        self._pending = b""  # the start of a frame, at a frame boundary, until it is whole
        self._forwarding = 0  # bytes of the frame being streamed to wsproto still to come
        self._fragmented = False  # a fragmented message is under way (wsproto's to parse)
        self._skipping = 0  # bytes of a frame ``discard`` is skipping still to come
        self.messages: deque[str | bytes] = deque()
        """Complete messages received and not yet taken, oldest first."""
        self.replies: list[bytes] = []
        """Frames the protocol calls for (pongs), to be sent in order and then cleared."""
        self.pongs: list[bytes] = []
        """Payloads of the pongs received, to be taken and cleared."""
        self.ending: Ending | None = None
        """Set once the client's side is over; nothing more is parsed."""
        self.close_received: int | None = None
        """The status code of the client's close frame, once one has arrived."""
        self.violation: tuple[int, str] | None = None
        """The close code and reason wsproto gave for a protocol violation."""

    @property
    def connection(self) -> Connection:
        """The wsproto connection underneath."""
        return self._connection

    @property
    def framing_lost(self) -> bool:
        """Whether a protocol violation left the stream unparseable."""
        return self.violation is not None

    def receive(self, data: bytes | bytearray) -> None:
        """Parse ``data`` from the client into ``messages``, ``replies``, ``pongs``, ``ending``."""
        if self.ending is not None:
            return
        data = bytes(data)
        if self._forwarding:
            if len(data) <= self._forwarding:
                self._forwarding -= len(data)
                self._to_wsproto(data)
                return
            rest, self._forwarding = self._forwarding, 0
            self._to_wsproto(data[:rest])
            data = data[rest:]
        if self._pending:
            data, self._pending = self._pending + data, b""
        end = len(data)
        at = 0
        while at < end and self.ending is None:
            header = _frame_header(data, at)
            if header is None:
                break
            first, payload_at, length, minimal = header
            frame_end = payload_at + length
            if first in _SIMPLE and minimal and not self._fragmented:
                if length > self._max_size:
                    self.ending = Ending.TOO_BIG
                    if frame_end > end:
                        self._skipping = frame_end - end  # for ``discard``
                        return
                    at = frame_end
                    break
                if frame_end <= end:
                    if self._simple_frame(first, data, payload_at, frame_end):
                        at = frame_end
                        continue
                elif length <= BUFFERED_FRAME:
                    break  # wait for the rest of a short frame
                # else a long frame still arriving: wsproto takes its pieces as they come, so
                # a client trickling it byte by byte costs no copy of all it sent so far
            opcode = first & 0x0F
            if opcode in (1, 2):
                self._fragmented = not first & 0x80
            elif opcode == 0 and first & 0x80:
                self._fragmented = False
            if frame_end > end:  # stream the rest to wsproto as it comes
                self._forwarding = frame_end - end
                self._to_wsproto(data[at:])
                return
            self._to_wsproto(data[at:frame_end])
            at = frame_end
        if at < end:
            self._pending = data[at:]  # a frame's start; or, after an ending, for ``discard``

    def discard(self, data: bytes | bytearray) -> bool:
        """Skip what the client sends after the server's close frame; ``True`` once the
        client's close frame has arrived (its code then in ``close_received``). Only while the
        framing is intact (not after a violation)."""
        data = self._pending + bytes(data)
        self._pending = b""
        self._skipping += self._forwarding  # wsproto no longer parses the frame it had begun
        self._forwarding = 0
        at = min(self._skipping, len(data))
        self._skipping -= at
        end = len(data)
        while at < end:
            header = _frame_header(data, at)
            if header is None:
                self._pending = data[at:]
                return False
            first, payload_at, length, _ = header
            frame_end = payload_at + length
            if first & 0x0F == _CLOSE and length <= 125:
                if frame_end > end:
                    self._pending = data[at:]
                    return False
                status = _unmasked(data, payload_at, frame_end)[:2]
                self.close_received = int.from_bytes(status, "big") if len(status) == 2 else 1005
                return True
            if frame_end > end:
                self._skipping = frame_end - end
                return False
            at = frame_end
        return False

    def _simple_frame(self, first: int, data: bytes, start: int, end: int) -> bool:
        """Take one whole single-frame message; ``False`` if wsproto must see it (bad UTF-8)."""
        payload = _unmasked(data, start, end)
        if first == _WHOLE_BINARY:
            self.messages.append(payload)
            return True
        try:
            self.messages.append(payload.decode())  # at most max_message_size bytes: it fits
        except UnicodeDecodeError:
            return False  # wsproto reports where the text breaks (1007)
        return True

    def _to_wsproto(self, data: bytes) -> None:
        connection = self._connection
        connection.receive_data(data)
        for event in connection.events():
            kind = type(event)
            if kind is TextMessage or kind is BytesMessage:
                assert isinstance(event, (TextMessage, BytesMessage))
                if event.message_finished and not self._parts:
                    self._whole(event.data)
                else:
                    self._fragment(event.data, event.message_finished)
            elif kind is Ping:
                assert isinstance(event, Ping)
                self.replies.append(connection.send(event.response()))
            elif kind is Pong:
                assert isinstance(event, Pong)
                self.pongs.append(bytes(event.payload))
            elif kind is CloseConnection:
                assert isinstance(event, CloseConnection)
                self._closed(event)
            if self.ending is not None:
                return

    def ping_frame(self, payload: bytes) -> bytes:
        """A ping frame carrying ``payload``."""
        return self._connection.send(Ping(payload))

    def closing_frame(self, code: int | None, reason: str | None) -> bytes | None:
        """The close frame to end the connection with, if one may still be sent: the echo of
        the client's close frame, else one with ``code`` (``None``: the client just left)."""
        connection = self._connection
        if connection.state is _REMOTE_CLOSING:
            assert self.close_received is not None
            return connection.send(CloseConnection(self.close_received))
        if connection.state is not _OPEN or code is None:
            return None
        if reason is not None:  # a close frame's payload is at most 125 bytes
            reason = reason.encode()[:MAX_CLOSE_REASON].decode(errors="ignore")
        return connection.send(CloseConnection(code, reason))

    def _whole(self, data: str | bytes | bytearray) -> None:
        if isinstance(data, str):
            if len(data) > self._text_chars_unchecked and self._too_big(data):
                return
        elif len(data) > self._max_size:
            self.ending = Ending.TOO_BIG
            return
        else:
            data = bytes(data)
        self.messages.append(data)

    def _fragment(self, data: str | bytes | bytearray, finished: bool) -> None:
        self._parts.append(data if isinstance(data, str) else bytes(data))  # type: ignore[arg-type]
        self._size += len(data)
        if self._size > self._max_size:  # characters never outnumber bytes
            self.ending = Ending.TOO_BIG
            return
        if not finished:
            return
        parts, self._parts, self._size = self._parts, [], 0
        if isinstance(parts[0], str):
            self._whole("".join(parts))
        else:
            self._whole(b"".join(parts))

    def _too_big(self, text: str) -> bool:
        if len(text.encode("utf-8", "surrogatepass")) <= self._max_size:
            return False
        self.ending = Ending.TOO_BIG
        return True

    def _closed(self, event: CloseConnection) -> None:
        if self._connection.state is _OPEN:
            # wsproto reports a frame it cannot parse as a close event and stays open.
            code = event.code if event.code in CLIENT_VIOLATION_CODES else 1002
            self.violation = (code, event.reason or "")
            self.ending = Ending.VIOLATION
            return
        self.close_received = event.code
        self.ending = Ending.CLIENT_CLOSED


_SIMPLE = frozenset({_WHOLE_TEXT, _WHOLE_BINARY})


def _frame_header(data: bytes, at: int) -> tuple[int, int, int, bool] | None:
    """The frame starting at ``data[at]``: its first byte, where its payload starts (past the
    mask), the payload's length, and whether it is masked with a minimal length encoding;
    ``None`` if the header is not all there yet."""
    available = len(data) - at
    if available < 2:
        return None
    second = data[at + 1]
    length = second & 0x7F
    head = 2
    minimal = True
    if length == 126:
        head = 4
        if available < head:
            return None
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        minimal = length >= 126
    elif length == 127:
        head = 10
        if available < head:
            return None
        length = int.from_bytes(data[at + 2 : at + 10], "big")
        minimal = (1 << 16) <= length < (1 << 63)
    if second & _MASKED:
        head += 4
        if available < head:
            return None
    else:
        minimal = False  # a client must mask: wsproto says so
    return data[at], at + head, length, minimal


def _unmasked(data: bytes, start: int, end: int) -> bytes:
    """The payload ``data[start:end]`` XORed with the 4-byte mask just before it."""
    size = end - start
    if not size:
        return b""
    mask = data[start - 4 : start]
    key = int.from_bytes(mask * (size // 4 + 1), "little") & ((1 << (8 * size)) - 1)
    return (int.from_bytes(data[start:end], "little") ^ key).to_bytes(size, "little")
