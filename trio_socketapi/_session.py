"""One accepted connection's life: a reader, a writer and the outbox between them.

All of it runs in the session's own nursery, inside a cancel scope that ``close`` cancels: a
broadcast that finds the outbox full calls ``close(TRY_AGAIN_LATER)`` synchronously and moves on;
the session then tears down its tasks and sends the close frame with a bounded wait.

Ordering: messages without an ``id`` are handled inline by the reader, one after another;
messages with one run as tasks in the nursery, at most ``max_in_flight`` at a time, and the reader
stops reading while that many are running (backpressure). Every frame to the client, reply or
broadcast, goes through the one outbox, so the client sees them in the order they were queued.
"""

from __future__ import annotations

import contextlib
import logging

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from ._connection import Connection
from ._dispatch import Dispatcher
from ._frames import text_frame
from ._hub import Hub
from ._protocol import CLOSE_REASONS, CloseCode, Inbound, ProtocolError, parse_inbound
from ._settings import Settings
from ._wire import send_frames

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
    ) -> None:
        self.connection = connection
        self.close_code: CloseCode | None = None
        self._ws = ws
        self._dispatcher = dispatcher
        self._hub = hub
        self._settings = settings
        self._outbox, self._outbox_reader = trio.open_memory_channel[bytes](settings.outbox_size)
        self._scope = trio.CancelScope()

    def deliver(self, frame: bytes) -> None:
        """Queue a broadcast frame without waiting; a full outbox closes the session (1013)."""
        try:
            self._outbox.send_nowait(frame)
        except trio.WouldBlock:
            self.close(CloseCode.TRY_AGAIN_LATER)
        except trio.ClosedResourceError:
            pass  # closing: nothing more goes to this client

    async def send(self, frame: bytes) -> None:
        """Queue a reply frame, waiting for room; dropped if the session is closing."""
        with contextlib.suppress(trio.ClosedResourceError):
            await self._outbox.send(frame)

    def close(self, code: CloseCode) -> None:
        """Stop the session and close the connection with ``code`` (the first code wins)."""
        if self.close_code is None:
            self.close_code = code
            self._hub.remove(self)
            self._outbox.close()
        self._scope.cancel()

    async def run(self) -> None:
        """Serve the connection until the client leaves or ``close`` is called."""
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._write_loop)
                    await self._read_loop(nursery)
                    nursery.cancel_scope.cancel()
        finally:
            self._hub.remove(self)
            self._outbox.close()
        if self.close_code is not None:
            with trio.move_on_after(self._settings.close_timeout):
                await self._ws.aclose(self.close_code, CLOSE_REASONS[self.close_code])

    async def _read_loop(self, nursery: trio.Nursery) -> None:
        in_flight = trio.Semaphore(self._settings.max_in_flight)
        while True:
            try:
                raw = await self._ws.get_message()
            except ConnectionClosed:
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

    async def _handle_concurrently(self, inbound: Inbound, in_flight: trio.Semaphore) -> None:
        try:
            await self._dispatcher.handle(self, inbound)
        finally:
            in_flight.release()

    async def _write_loop(self) -> None:
        async for frame in self._outbox_reader:
            batch = [frame]
            while True:
                try:
                    batch.append(self._outbox_reader.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            try:
                await send_frames(self._ws, b"".join(batch) if len(batch) > 1 else frame)
            except ConnectionClosed:
                self._scope.cancel()
                return
