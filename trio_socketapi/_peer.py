"""What every session shares, whatever carries its frames: the outbox, the close, and the
hand-off of each inbound message to the dispatcher.

The native ``Session`` (wsproto over a trio stream) and the ``AsgiSession`` (an ASGI server's
``receive`` and ``send``) differ only in how bytes come and go, so both build on ``PeerSession``: a
broadcast frame goes to the outbox without waiting (a full one closes the session with 1013, or
drops the oldest data frame, as configured), a reply waits for room, and ``close`` records the
first code, leaves the hub and cancels the session's nursery.

``handle_message`` keeps socketapi's ordering: a message without an ``id`` is handled inline,
so the reader reads nothing else until it is answered; one with an ``id`` runs as a task in the
session's nursery, at most ``max_in_flight`` at a time, and the reader waits for a free slot
(backpressure) before it reads on.
"""

from __future__ import annotations

import logging

import trio

from ._connection import Connection
from ._counters import Counters
from ._dispatch import Dispatcher
from ._frames import text_frame
from ._hub import Hub
from ._outbox import FULL, SENT, SENT_DROPPING_OLDEST, Outbox, SendAll, WriteNowait
from ._protocol import CLOSE_REASONS, CloseCode, Inbound, ProtocolError, parse_inbound
from ._settings import Settings

logger = logging.getLogger("trio_socketapi")


class PeerSession:
    """The transport-independent half of one client's session."""

    def __init__(
        self,
        connection: Connection,
        dispatcher: Dispatcher,
        hub: Hub,
        settings: Settings,
        counters: Counters,
        *,
        write_nowait: WriteNowait | None,
        send_all: SendAll,
    ) -> None:
        self.connection = connection
        self.close_code: CloseCode | None = None
        self.close_reason: str | None = None
        self._dispatcher = dispatcher
        self._hub = hub
        self._settings = settings
        self._counters = counters
        self._nursery: trio.Nursery | None = None
        self._in_flight: trio.Semaphore | None = None  # made on the first message with an id
        self._outbox = Outbox(
            write_nowait,
            send_all,
            size=settings.outbox_size,
            drop_oldest=settings.slow_consumer_policy == "drop_oldest",
            close_timeout=settings.close_timeout,
        )

    def deliver(self, frame: bytes) -> None:
        """Send or queue a broadcast frame without waiting; a full outbox closes the session."""
        put = self._outbox.put_data(frame)
        if put is SENT:
            self._counters.messages_out += 1
        elif put is SENT_DROPPING_OLDEST:
            self._counters.frames_dropped += 1
            self._counters.messages_out += 1
        elif put is FULL:
            self._counters.slow_consumer_closes += 1
            logger.warning("slow consumer %s closed (1013)", self.connection.remote)
            self.close(CloseCode.TRY_AGAIN_LATER)

    async def send(self, frame: bytes) -> None:
        """Send or queue a reply frame, waiting for room; dropped if the session is closing."""
        if await self._outbox.put_reply(frame):
            self._counters.messages_out += 1

    def close(self, code: CloseCode, reason: str | None = None) -> None:
        """Stop the session and close the connection with ``code`` (the first code wins)."""
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason or CLOSE_REASONS[code]
            self._hub.remove(self)
        self._outbox.close()
        self._cancel()

    def _cancel(self) -> None:
        """Stop the reader and the tasks it started (the outbox's writer is shielded from this)."""
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    async def handle_message(self, raw: str | bytes, nursery: trio.Nursery) -> None:
        """Answer one inbound message: inline without an ``id``, as a task with one."""
        try:
            inbound = parse_inbound(raw)
        except ProtocolError as error:
            await self.send(text_frame(error.encode()))
            return
        if inbound.id is None:
            await self._dispatcher.handle(self, inbound)
            return
        if self._in_flight is None:
            self._in_flight = trio.Semaphore(self._settings.max_in_flight)
        await self._in_flight.acquire()
        nursery.start_soon(self._handle_concurrently, inbound, self._in_flight)

    async def _handle_concurrently(self, inbound: Inbound, in_flight: trio.Semaphore) -> None:
        try:
            await self._dispatcher.handle(self, inbound)
        finally:
            in_flight.release()
