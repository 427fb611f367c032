"""One accepted connection's life: reading, the dispatch hand-off, keepalive pings.

The session's own task reads: it receives from the transport, has ``WebSocketProtocol``
(_websocket.py) parse every frame of that read, and handles the messages one by one, with no
reader task and no channel in between. Its tasks run in the session's nursery, inside a cancel
scope that ``close`` cancels: a broadcast that finds the outbox full calls
``close(TRY_AGAIN_LATER)`` synchronously and moves on.

Every frame the server sends goes through the session's ``Outbox`` (see _outbox.py): replies,
broadcasts, pongs and pings, so they reach the client in the order they were put; a frame for an
idle client is one non-blocking write straight to the OS socket when the transport is plain TCP.
The outbox finishes a frame begun on the wire before anything else, within ``close_timeout``
once closing; the close frame follows only if the stream ended on a frame boundary (otherwise
the connection is dropped without one).

Ordering: messages without an ``id`` are handled inline, one after another; messages with one
run as tasks in the nursery, at most ``max_in_flight`` at a time, and reading stops while that
many are running (backpressure). While the reader is busy like that it does not read, so it
would not see its client leave or answer its pings. The server's sweep (about once a second)
therefore starts a read-ahead task for a reader that has been busy with the same message since
the sweep before (``read_ahead_if_stuck``): it reads until the next message arrives, answering
pings and noting pongs meanwhile, and ends the session at once if the client closes or goes
away, cancelling the handler that holds the reader.
"""

from __future__ import annotations

import contextlib
import logging

import trio

from ._connection import Connection
from ._counters import Counters
from ._dispatch import Dispatcher
from ._hub import Hub
from ._peer import PeerSession
from ._protocol import IDLE_TIMEOUT_REASON, PING_TIMEOUT_REASON, CloseCode
from ._settings import Settings
from ._websocket import Ending, WebSocketProtocol
from ._wire import ServerTransport, nowait_writer, raw_socket

logger = logging.getLogger("trio_socketapi")


class Session(PeerSession):
    """The server side of one open WebSocket connection."""

    def __init__(
        self,
        transport: ServerTransport,
        protocol: WebSocketProtocol,
        connection: Connection,
        dispatcher: Dispatcher,
        hub: Hub,
        settings: Settings,
        counters: Counters,
        *,
        received: bytes = b"",
    ) -> None:
        self.transport = transport
        self.protocol = protocol
        sock = raw_socket(transport)
        super().__init__(
            connection,
            dispatcher,
            hub,
            settings,
            counters,
            write_nowait=None if sock is None else nowait_writer(sock),
            send_all=self._send_frames,
        )
        self._received = received  # sent along with the handshake request: parsed first
        self._last_heard = trio.current_time()
        self._ping: tuple[bytes, trio.Event] | None = None  # the payload of the ping in flight
        self._pings_sent = 0
        self._reader_busy = False  # handling a message, or waiting to start one (in flight)
        self._messages_taken = 0
        self._taken_at_last_sweep = -1
        self._read_ahead: trio.Event | None = None  # set when a running read-ahead task ends

    def ping_if_silent(self, now: float, interval: float) -> None:
        """Start a keepalive ping if the client has been silent for ``interval`` (called by the
        server's sweep, so an idle connection costs no task of its own between pings)."""
        if self._nursery is None or self._ping is not None or now - self._last_heard < interval:
            return
        self._pings_sent += 1
        self._ping = (b"%d" % self._pings_sent, trio.Event())
        self._nursery.start_soon(self._send_ping, *self._ping)

    def read_ahead_if_stuck(self) -> None:
        """Start reading ahead if the reader has been busy with one message since the last
        call (the server's sweep calls this about once a second)."""
        taken = self._messages_taken
        stuck = self._reader_busy and taken == self._taken_at_last_sweep
        self._taken_at_last_sweep = taken
        if stuck and self.protocol.ending is not None:
            self._cancel()  # busy with what came before the client's close: it is gone
        elif (
            stuck
            and self._nursery is not None
            and self._read_ahead is None
            and not self.protocol.messages
        ):
            self._read_ahead = trio.Event()
            self._nursery.start_soon(self._read_ahead_while_busy, self._read_ahead)

    async def run(self) -> None:
        """Serve the connection until the client leaves or ``close`` is called; then send the
        close frame, if one may be sent."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._outbox.bind(nursery)
                if self.close_code is not None:  # closed before it started
                    nursery.cancel_scope.cancel()
                try:
                    await self._read_loop(nursery)
                finally:
                    self._outbox.close()
                    nursery.cancel_scope.cancel()
        finally:
            self._nursery = None
            self._hub.remove(self)
        await self.send_close_frame()

    async def send_close_frame(self) -> None:
        """Send the close frame that ends the connection: the echo of the client's, or one with
        ``close_code``; nothing if the client just left or the stream is mid-frame."""
        if not self._outbox.frame_aligned:
            return
        frame = self.protocol.closing_frame(self.close_code, self.close_reason)
        if frame is None:
            return
        with trio.move_on_after(self._settings.close_timeout):
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await self.transport.send_close_frame(frame)

    async def _send_frames(self, frames: bytes) -> None:
        """The outbox's waiting write: a failed connection stops the session too."""
        try:
            await self.transport.send_all(frames)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._cancel()
            raise

    # -- reading ------------------------------------------------------------------------------

    async def _read_loop(self, nursery: trio.Nursery) -> None:
        messages = self.protocol.messages
        if self._received:
            received, self._received = self._received, b""
            await self._take(received)
        while True:
            self._reader_busy = False
            while not messages:
                if self.protocol.ending is not None or not await self._receive():
                    return
            self._reader_busy = True
            self._messages_taken += 1
            self._counters.messages_in += 1
            await self.handle_message(messages.popleft(), nursery)

    async def _receive(self) -> bool:
        """Wait for the client's next bytes and take them; False once its side is over."""
        idle_timeout = self._settings.idle_timeout
        if idle_timeout is None:
            data = await self._next_bytes()
        else:
            with trio.move_on_after(idle_timeout) as idle:
                data = await self._next_bytes()
            if idle.cancelled_caught:
                self.close(CloseCode.NORMAL, IDLE_TIMEOUT_REASON)
                return False
        if data is None:
            return False
        if data:
            await self._take(data)
        return True

    async def _next_bytes(self) -> bytes | bytearray | None:
        """The client's next bytes (empty if a read-ahead task took them); ``None`` at its EOF."""
        if self._read_ahead is not None:  # it reads until the next message
            await self._read_ahead.wait()
            return b""
        return await self._receive_some()

    async def _receive_some(self) -> bytes | bytearray | None:
        """The client's next bytes; ``None`` at its EOF or reset."""
        try:
            data = await self.transport.receive_some(self._settings.receive_buffer_size)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return None
        return data or None

    async def _take(self, data: bytes | bytearray) -> None:
        """Parse ``data``: answer its pings, note its pongs, and act on an ending."""
        self._last_heard = trio.current_time()
        protocol = self.protocol
        protocol.receive(data)
        if protocol.pongs:
            if self._ping is not None and self._ping[0] in protocol.pongs:
                self._ping[1].set()
            protocol.pongs.clear()
        ending = protocol.ending
        if ending is Ending.VIOLATION:
            assert protocol.violation is not None
            code, reason = protocol.violation
            self.close(CloseCode(code), reason)
        elif ending is Ending.TOO_BIG:
            self.close(CloseCode.MESSAGE_TOO_BIG)
        elif ending is Ending.CLIENT_CLOSED:
            self._outbox.close()  # nothing more goes out but the echo of the client's close
        if protocol.replies:
            replies = b"".join(protocol.replies)
            protocol.replies.clear()
            await self._outbox.put_reply(replies)

    async def _read_ahead_while_busy(self, done: trio.Event) -> None:
        """Read for a busy reader until the next message; end the session if the client goes."""
        protocol = self.protocol
        try:
            while self._reader_busy and not protocol.messages:
                data = await self._receive_some()
                if data is None:
                    self._cancel()  # the client left: nobody will read the replies
                    return
                await self._take(data)
                if protocol.ending is not None:
                    if self._reader_busy:
                        self._cancel()
                    return
        finally:
            self._read_ahead = None
            done.set()

    async def _send_ping(self, payload: bytes, pong: trio.Event) -> None:
        """Ping and wait for the pong; close with 1008 if it does not come in time."""
        try:
            with trio.move_on_after(self._settings.ping_timeout) as waiting:
                if not await self._outbox.put_reply(self.protocol.ping_frame(payload)):
                    return
                await pong.wait()
            if waiting.cancelled_caught:
                logger.info("no pong from %s: closing", self.connection.remote)
                self.close(CloseCode.POLICY_VIOLATION, PING_TIMEOUT_REASON)
                return
            self._last_heard = trio.current_time()
        finally:
            self._ping = None
