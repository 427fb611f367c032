"""One accepted connection's life: the reader, the dispatch hand-off, keepalive pings.

The reader and the tasks it starts run in the session's nursery, inside a cancel scope that
``close`` cancels: a broadcast that finds the outbox full calls ``close(TRY_AGAIN_LATER)``
synchronously and moves on.

Sending goes through the session's ``Outbox`` (see _outbox.py), built on two callables from
_wire.py: a non-blocking write straight to the OS socket when the transport is plain TCP (so a
frame for an idle client costs one system call), and trio-websocket's locked stream for the
rest. The outbox finishes a frame begun on the wire before anything else, within
``close_timeout`` once closing; the close frame follows only if the stream ended on a frame
boundary (otherwise the connection is dropped without one).

Ordering: messages without an ``id`` are handled inline by the reader, one after another;
messages with one run as tasks in the nursery, at most ``max_in_flight`` at a time, and the reader
stops reading while that many are running (backpressure). A reader busy like that cannot see
its client leave, so the transport tells the session (``notice_client_gone``), which then stops
at once, cancelling the handler that holds the reader. The outbox writes frames in the order
they were put, so the client sees them in the order they were sent.
"""

from __future__ import annotations

import logging

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from ._connection import Connection
from ._counters import Counters
from ._dispatch import Dispatcher
from ._hub import Hub
from ._peer import PeerSession
from ._protocol import IDLE_TIMEOUT_REASON, PING_TIMEOUT_REASON, CloseCode
from ._settings import Settings
from ._wire import nowait_writer, raw_socket, send_frames

logger = logging.getLogger("trio_socketapi")


class Session(PeerSession):
    """The server side of one open WebSocket connection."""

    def __init__(
        self,
        ws: WebSocketConnection,
        connection: Connection,
        dispatcher: Dispatcher,
        hub: Hub,
        settings: Settings,
        counters: Counters,
    ) -> None:
        self.ws = ws
        sock = raw_socket(ws)
        super().__init__(
            connection,
            dispatcher,
            hub,
            settings,
            counters,
            write_nowait=None if sock is None else nowait_writer(ws, sock),
            send_all=self._send_frames,
        )
        self._last_heard = trio.current_time()
        self._pinging = False
        self._reader_busy = False  # handling a message, or waiting to start one (in flight)
        # A text message of up to this many characters cannot exceed the byte limit.
        self._text_chars_unchecked = settings.max_message_size // 4

    @property
    def frame_aligned(self) -> bool:
        """Whether the stream ends on a frame boundary, so a close frame may still follow."""
        return self._outbox.frame_aligned

    def notice_client_gone(self) -> None:
        """The client closed, sent EOF or reset (or the connection is closing): if the reader is
        busy, with an inline handler or waiting for ``max_in_flight``, stop the session now.

        A reader waiting for the next message finds out by itself, after the messages that
        arrived before the close, so those are still handled.
        """
        if self._reader_busy:
            self._cancel()

    def ping_if_silent(self, now: float, interval: float) -> None:
        """Start a keepalive ping if the client has been silent for ``interval`` (called by the
        server's sweep, so an idle connection costs no task of its own between pings)."""
        if self._nursery is None or self._pinging or now - self._last_heard < interval:
            return
        self._pinging = True
        self._nursery.start_soon(self._ping)

    async def run(self) -> None:
        """Serve the connection until the client leaves or ``close`` is called."""
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
        if self.close_code is not None and self._outbox.frame_aligned:
            with trio.move_on_after(self._settings.close_timeout):
                await self.ws.aclose(self.close_code, self.close_reason)

    async def _send_frames(self, frames: bytes) -> None:
        """The outbox's waiting write: a failed connection stops the session too."""
        try:
            await send_frames(self.ws, frames)
        except ConnectionClosed:
            self._cancel()
            raise trio.BrokenResourceError("connection closed") from None

    # -- reading ------------------------------------------------------------------------------

    async def _read_loop(self, nursery: trio.Nursery) -> None:
        idle_timeout = self._settings.idle_timeout
        while True:
            self._reader_busy = False
            if idle_timeout is None:
                try:
                    raw = await self.ws.get_message()
                except ConnectionClosed:
                    return
            else:
                with trio.move_on_after(idle_timeout) as idle:
                    try:
                        raw = await self.ws.get_message()
                    except ConnectionClosed:
                        return
                if idle.cancelled_caught:
                    self.close(CloseCode.NORMAL, IDLE_TIMEOUT_REASON)
                    return
            self._reader_busy = True
            self._last_heard = trio.current_time()
            self._counters.messages_in += 1
            if (
                isinstance(raw, str)
                and len(raw) > self._text_chars_unchecked
                and (len(raw.encode("utf-8", "surrogatepass")) > self._settings.max_message_size)
            ):
                # trio-websocket counts a text message's characters; the limit is in bytes.
                self.close(CloseCode.MESSAGE_TOO_BIG)
                return
            await self.handle_message(raw, nursery)

    async def _ping(self) -> None:
        """Ping and wait for the pong; close with 1008 if it does not come in time."""
        try:
            with trio.move_on_after(self._settings.ping_timeout) as waiting:
                try:
                    await self.ws.ping()
                except ConnectionClosed:
                    return
            if waiting.cancelled_caught:
                logger.info("no pong from %s: closing", self.connection.remote)
                self.close(CloseCode.POLICY_VIOLATION, PING_TIMEOUT_REASON)
                return
            self._last_heard = trio.current_time()
        finally:
            self._pinging = False
