"""One accepted connection's life: a reader, the outbox, and a writer when one is needed.

The reader and the tasks it starts run in the session's nursery, inside a cancel scope that
``close`` cancels: a broadcast that finds the outbox full calls ``close(TRY_AGAIN_LATER)``
synchronously and moves on.

Sending: a frame for a client with nothing queued goes straight to its socket (see _wire.py).
Only when that cannot take the whole frame, or the transport is not plain TCP, does the frame go
to the outbox, a bounded memory channel, and a writer task is started to drain it; the writer
ends once the outbox is empty. So an idle connection holds no writer task and, until it first
needs one, no outbox at all: that is most of what a connection costs in memory. The writer is
shielded from the session's cancellation so it never stops in the middle of a frame: it finishes
the write in progress (within ``close_timeout``), then the close frame follows. Only a writer
still blocked at that deadline is cut off, and the connection is then dropped without a close
frame (the stream is no longer frame-aligned).

Ordering: messages without an ``id`` are handled inline by the reader, one after another;
messages with one run as tasks in the nursery, at most ``max_in_flight`` at a time, and the reader
stops reading while that many are running (backpressure). A frame is written directly only when
nothing is queued or being written, so the client sees frames in the order they were sent.
"""

from __future__ import annotations

import logging

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from ._connection import Connection
from ._counters import Counters
from ._dispatch import Dispatcher
from ._frames import is_data_frame, text_frame
from ._hub import Hub
from ._protocol import CLOSE_REASONS, CloseCode, Inbound, ProtocolError, parse_inbound
from ._settings import Settings
from ._wire import raw_socket, send_frames, write_nowait

logger = logging.getLogger("trio_socketapi")


class Session:
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
        self.connection = connection
        self.close_code: CloseCode | None = None
        self.close_reason: str | None = None
        self.ws = ws
        self._dispatcher = dispatcher
        self._hub = hub
        self._settings = settings
        self._counters = counters
        self._nursery: trio.Nursery | None = None
        self._socket = raw_socket(ws)
        # The outbox and its writer exist only once something has to wait to be written.
        self._outbox: trio.MemorySendChannel[bytes] | None = None
        self._outbox_reader: trio.MemoryReceiveChannel[bytes] | None = None
        self._writer_scope: trio.CancelScope | None = None
        self._writer_running = False
        self._partial_head = False
        self._write_in_progress = False
        self._closing = False
        self._last_heard = trio.current_time()
        self._pinging = False
        # A text message of up to this many characters cannot exceed the byte limit.
        self._text_chars_unchecked = settings.max_message_size // 4

    def deliver(self, frame: bytes) -> None:
        """Send or queue a broadcast frame without waiting; a full outbox closes the session."""
        if self._closing:
            return
        if not self._write_now(frame):
            try:
                self._enqueue(frame)
            except trio.WouldBlock:
                if not (
                    self._settings.slow_consumer_policy == "drop_oldest"
                    and self._drop_oldest_data()
                ):
                    self._counters.slow_consumer_closes += 1
                    logger.warning("slow consumer %s closed (1013)", self.connection.remote)
                    self.close(CloseCode.TRY_AGAIN_LATER)
                    return
                self._enqueue(frame)
        self._counters.messages_out += 1

    async def send(self, frame: bytes) -> None:
        """Send or queue a reply frame, waiting for room; dropped if the session is closing."""
        if self._closing:
            return
        if not self._write_now(frame):
            try:
                self._enqueue(frame)
            except trio.WouldBlock:
                assert self._outbox is not None
                try:
                    await self._outbox.send(frame)  # backpressure: the reader waits here
                except trio.ClosedResourceError:
                    return
        self._counters.messages_out += 1

    def close(self, code: CloseCode, reason: str | None = None) -> None:
        """Stop the session and close the connection with ``code`` (the first code wins)."""
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason or CLOSE_REASONS[code]
            self._hub.remove(self)
        self._stop_writer()
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
                if self.close_code is not None:  # closed before it started
                    nursery.cancel_scope.cancel()
                try:
                    await self._read_loop(nursery)
                finally:
                    self._stop_writer()
                    nursery.cancel_scope.cancel()
        finally:
            self._nursery = None
            self._hub.remove(self)
        if self.close_code is not None and not self._write_in_progress:
            with trio.move_on_after(self._settings.close_timeout):
                await self.ws.aclose(self.close_code, self.close_reason)

    def _cancel(self) -> None:
        """Stop the reader and the tasks it started (the writer is shielded from this)."""
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    # -- writing ------------------------------------------------------------------------------

    def _write_now(self, frame: bytes) -> bool:
        """Write ``frame`` to the socket at once if nothing is ahead of it; queue what is left.

        Returns False, having done nothing, when the frame has to take the queued path.
        """
        if self._socket is None or self._writer_running:
            return False
        written = write_nowait(self.ws, self._socket, frame)
        if written == 0:
            return False
        if written < len(frame):
            # The stream is mid-frame until the writer sends the rest, ahead of everything else.
            self._write_in_progress = True
            self._enqueue(frame[written:])
            self._partial_head = True
        return True

    def _enqueue(self, frame: bytes) -> None:
        """Put ``frame`` in the outbox and make sure a writer drains it.

        Raises ``trio.WouldBlock`` if the outbox is full.
        """
        if self._outbox is None:
            self._outbox, self._outbox_reader = trio.open_memory_channel[bytes](
                self._settings.outbox_size
            )
        self._outbox.send_nowait(frame)
        if not self._writer_running and self._nursery is not None:
            self._writer_running = True
            self._writer_scope = trio.CancelScope(shield=True)
            self._nursery.start_soon(self._write_loop, self._writer_scope)

    def _drop_oldest_data(self) -> bool:
        """Drop the oldest queued data frame, keeping the rest in order; False if none is queued.

        Only runs when an outbox is full, so re-queueing what it holds is rare and bounded.
        """
        assert self._outbox is not None and self._outbox_reader is not None
        queued: list[bytes] = []
        while True:
            try:
                queued.append(self._outbox_reader.receive_nowait())
            except trio.WouldBlock:
                break
        first = 1 if self._partial_head else 0  # the rest of a begun frame is never dropped
        index = next((i for i, f in enumerate(queued) if i >= first and is_data_frame(f)), None)
        if index is not None:
            del queued[index]
            self._counters.frames_dropped += 1
        for frame in queued:
            self._outbox.send_nowait(frame)
        return index is not None

    def _stop_writer(self) -> None:
        """Queue nothing more; let the writer finish its write, bounded by ``close_timeout``."""
        self._closing = True
        if self._outbox is not None:
            self._outbox.close()
        if self._writer_scope is not None:
            deadline = trio.current_time() + self._settings.close_timeout
            self._writer_scope.deadline = min(self._writer_scope.deadline, deadline)

    async def _write_loop(self, scope: trio.CancelScope) -> None:
        """Drain the outbox in batches, then end (the next queued frame starts a new writer)."""
        assert self._outbox_reader is not None
        reader = self._outbox_reader
        with scope:
            if self._closing:
                scope.deadline = trio.current_time() + self._settings.close_timeout
            while True:
                batch: list[bytes] = []
                while True:
                    try:
                        batch.append(reader.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                if not batch:
                    break
                partial_head, self._partial_head = self._partial_head, False
                if self.close_code is not None:
                    if not partial_head:
                        break  # closing: the close frame goes next, queued frames are dropped
                    batch = batch[:1]  # finish the frame already begun on the wire
                self._write_in_progress = True
                try:
                    await send_frames(self.ws, b"".join(batch) if len(batch) > 1 else batch[0])
                except ConnectionClosed:
                    self._cancel()
                    break
                self._write_in_progress = False
                if self.close_code is not None:
                    break
        self._writer_running = False
        self._writer_scope = None

    # -- reading ------------------------------------------------------------------------------

    async def _read_loop(self, nursery: trio.Nursery) -> None:
        in_flight: trio.Semaphore | None = None  # made on the first message with an id
        idle_timeout = self._settings.idle_timeout
        while True:
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
                    self.close(CloseCode.NORMAL, "Idle timeout.")
                    return
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
            try:
                inbound = parse_inbound(raw)
            except ProtocolError as error:
                await self.send(text_frame(error.encode()))
                continue
            if inbound.id is None:
                await self._dispatcher.handle(self, inbound)
            else:
                if in_flight is None:
                    in_flight = trio.Semaphore(self._settings.max_in_flight)
                await in_flight.acquire()
                nursery.start_soon(self._handle_concurrently, inbound, in_flight)

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
                self.close(CloseCode.POLICY_VIOLATION, "Keepalive ping timeout.")
                return
            self._last_heard = trio.current_time()
        finally:
            self._pinging = False

    async def _handle_concurrently(self, inbound: Inbound, in_flight: trio.Semaphore) -> None:
        try:
            await self._dispatcher.handle(self, inbound)
        finally:
            in_flight.release()
