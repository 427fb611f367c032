"""One accepted connection's life: a reader, a writer and the outbox between them.

The reader and the handlers it starts run in the session's nursery, inside a cancel scope that
``close`` cancels: a broadcast that finds the outbox full calls ``close(TRY_AGAIN_LATER)``
synchronously and moves on. The writer is shielded from that cancellation so it never stops in
the middle of a frame: it finishes the write in progress (within ``close_timeout``), then the
close frame follows. Only a writer still blocked at that deadline is cut off, and then the
connection is dropped without a close frame (the stream is no longer frame-aligned).

Ordering: messages without an ``id`` are handled inline by the reader, one after another;
messages with one run as tasks in the nursery, at most ``max_in_flight`` at a time, and the reader
stops reading while that many are running (backpressure). Every frame to the client, reply or
broadcast, goes through the one outbox, so the client sees them in the order they were queued.
"""

from __future__ import annotations

import contextlib
import logging
import math

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from ._connection import Connection
from ._counters import Counters
from ._dispatch import Dispatcher
from ._frames import is_data_frame, text_frame
from ._hub import Hub
from ._protocol import (
    CLOSE_REASONS,
    CloseCode,
    Inbound,
    ProtocolError,
    parse_inbound,
)
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
        self._outbox, self._outbox_reader = trio.open_memory_channel[bytes](settings.outbox_size)
        self._scope = trio.CancelScope()
        self._writer_scope = trio.CancelScope(shield=True)
        self._write_in_progress = False
        self._last_heard = trio.current_time()
        # The fast path (see _wire.py): a frame may go straight to the socket only while the
        # writer waits on an empty outbox. Whoever queues a frame clears _writer_idle first.
        self._socket = raw_socket(ws)
        self._writer_idle = False
        self._partial_head = False
        # A text message of up to this many characters cannot exceed the byte limit.
        self._text_chars_unchecked = settings.max_message_size // 4

    def deliver(self, frame: bytes) -> None:
        """Send or queue a broadcast frame without waiting; a full outbox closes the session."""
        if self._write_now(frame):
            self._counters.messages_out += 1
            return
        try:
            self._outbox.send_nowait(frame)
            self._writer_idle = False
        except trio.WouldBlock:
            if self._settings.slow_consumer_policy == "drop_oldest" and self._drop_oldest_data():
                self._outbox.send_nowait(frame)
            else:
                self._counters.slow_consumer_closes += 1
                logger.warning("slow consumer %s closed (1013)", self.connection.remote)
                self.close(CloseCode.TRY_AGAIN_LATER)
                return
        except trio.ClosedResourceError:
            return  # closing: nothing more goes to this client
        self._counters.messages_out += 1

    def _drop_oldest_data(self) -> bool:
        """Drop the oldest queued data frame, keeping the rest in order; False if none is queued.

        Only runs when an outbox is full, so re-queueing what it holds is rare and bounded.
        """
        queued: list[bytes] = []
        while True:
            try:
                queued.append(self._outbox_reader.receive_nowait())
            except trio.WouldBlock:
                break
        index = next((i for i, f in enumerate(queued) if is_data_frame(f)), None)
        if index == 0 and self._partial_head:
            index = next((i for i, f in enumerate(queued) if i and is_data_frame(f)), None)
        if index is not None:
            del queued[index]
            self._counters.frames_dropped += 1
        for frame in queued:
            self._outbox.send_nowait(frame)
        return index is not None

    async def send(self, frame: bytes) -> None:
        """Send or queue a reply frame, waiting for room; dropped if the session is closing."""
        if self._write_now(frame):
            self._counters.messages_out += 1
            return
        with contextlib.suppress(trio.ClosedResourceError):
            self._writer_idle = False
            await self._outbox.send(frame)
            self._counters.messages_out += 1

    def _write_now(self, frame: bytes) -> bool:
        """Write ``frame`` to the socket at once if nothing is ahead of it; queue what is left.

        Returns False, having done nothing, when the frame has to take the queued path.
        """
        if self._socket is None or not self._writer_idle or self.close_code is not None:
            return False
        written = write_nowait(self.ws, self._socket, frame)
        if written == 0:
            return False
        if written < len(frame):
            # The stream is mid-frame until the writer sends the rest, ahead of everything else.
            self._outbox.send_nowait(frame[written:])
            self._writer_idle = False
            self._partial_head = True
            self._write_in_progress = True
        return True

    def close(self, code: CloseCode, reason: str | None = None) -> None:
        """Stop the session and close the connection with ``code`` (the first code wins)."""
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason or CLOSE_REASONS[code]
            self._hub.remove(self)
        self._stop_writer()
        self._scope.cancel()

    async def run(self) -> None:
        """Serve the connection until the client leaves or ``close`` is called."""
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._write_loop)
                    if self._settings.ping_interval is not None:
                        nursery.start_soon(self._keepalive, self._settings.ping_interval)
                    try:
                        await self._read_loop(nursery)
                    finally:
                        self._stop_writer()
                        nursery.cancel_scope.cancel()
        finally:
            self._hub.remove(self)
        if self.close_code is not None and not self._write_in_progress:
            with trio.move_on_after(self._settings.close_timeout):
                await self.ws.aclose(self.close_code, self.close_reason)

    def _stop_writer(self) -> None:
        """Let the writer finish the write in progress, bounded by ``close_timeout``."""
        self._writer_idle = False  # nothing more goes straight to the socket either
        self._outbox.close()
        deadline = trio.current_time() + self._settings.close_timeout
        self._writer_scope.deadline = min(self._writer_scope.deadline, deadline)

    async def _read_loop(self, nursery: trio.Nursery) -> None:
        in_flight = trio.Semaphore(self._settings.max_in_flight)
        idle_timeout = self._settings.idle_timeout
        while True:
            with trio.move_on_after(idle_timeout or math.inf) as idle:
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
                await in_flight.acquire()
                nursery.start_soon(self._handle_concurrently, inbound, in_flight)

    async def _keepalive(self, interval: float) -> None:
        """Ping a client that has been silent for ``interval``; close it if no pong comes."""
        while True:
            await trio.sleep_until(self._last_heard + interval)
            if trio.current_time() < self._last_heard + interval:
                continue  # heard from it meanwhile
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

    async def _handle_concurrently(self, inbound: Inbound, in_flight: trio.Semaphore) -> None:
        try:
            await self._dispatcher.handle(self, inbound)
        finally:
            in_flight.release()

    async def _write_loop(self) -> None:
        with self._writer_scope:
            while True:
                try:
                    first = self._outbox_reader.receive_nowait()
                except trio.WouldBlock:
                    self._writer_idle = True
                    try:
                        first = await self._outbox_reader.receive()
                    except trio.EndOfChannel:
                        return
                except trio.EndOfChannel:
                    return
                batch = [first]
                while True:
                    try:
                        batch.append(self._outbox_reader.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                partial_head, self._partial_head = self._partial_head, False
                if self.close_code is not None:
                    if not partial_head:
                        return  # closing: the close frame goes next, queued frames are dropped
                    batch = batch[:1]  # finish the frame already begun on the wire
                self._write_in_progress = True
                try:
                    await send_frames(self.ws, b"".join(batch) if len(batch) > 1 else first)
                except ConnectionClosed:
                    self._scope.cancel()
                    return
                self._write_in_progress = False
                if self.close_code is not None:
                    return
