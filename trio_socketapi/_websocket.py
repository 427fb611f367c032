"""The WebSocket protocol of one open server connection, without I/O.

wsproto parses the client's frames, unmasks them and checks their UTF-8; ``WebSocketProtocol``
adds what wsproto leaves to its user, so that a session can read with no task and no channel
of its own (``_session.py`` feeds it what each ``receive_some`` returns):

- assembling fragmented messages, under ``max_message_size`` counted in bytes (for a text
  message, its UTF-8 bytes, not its characters);
- the frames the protocol calls for: a pong for every ping, in ``replies``;
- how the client's side ended (``ending``): its close frame, a protocol violation that wsproto
  reported (after which the stream can no longer be parsed), or a message over the limit;
- the one close frame the server sends (``closing_frame``): the echo of the client's, or the
  server's own.

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
_OPEN = ConnectionState.OPEN
_REMOTE_CLOSING = ConnectionState.REMOTE_CLOSING


class Ending(enum.Enum):
    """Why the server reads no more messages from a client."""

    CLIENT_CLOSED = "the client sent a close frame"
    VIOLATION = "the client broke the WebSocket protocol"
    TOO_BIG = "the client sent a message over the size limit"


class WebSocketProtocol:
    """wsproto's connection for one client, with messages assembled and endings told apart."""

    __slots__ = (
        "_connection",
        "_max_size",
        "_parts",
        "_size",
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
        connection = self._connection
        connection.receive_data(data if isinstance(data, bytes) else bytes(data))
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
