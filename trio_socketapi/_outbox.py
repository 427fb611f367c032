"""What one client has yet to be sent: the bounded queue, its writer task and the frame boundary.

An ``Outbox`` is built on two callables that the transport supplies:

- ``write_nowait(frames) -> int`` writes what the transport takes right now, without waiting,
  and returns how many bytes that was (0: nothing, try the queued path). ``None`` when the
  transport has no such write (TLS, in memory, ASGI): every frame then takes the queued path.
- ``send_all(frames)`` sends all of ``frames`` and waits until it has; it raises
  ``trio.BrokenResourceError`` (or ``ClosedResourceError``) once the transport is gone.

Fast path: a frame for a client with nothing queued or being written goes straight to
``write_nowait``; an idle subscriber costs one call per broadcast, no task and no allocation.
Only when the transport cannot take the whole frame does anything get queued, and only then
does a writer task start, in the nursery given to ``bind``; it ends once the queue is empty, so
an idle client holds no task and no queue.

Frame boundary: a partial write leaves the stream mid-frame, so the rest of that frame is queued
first and marked as never droppable; nothing is written directly until the writer has drained
the queue, so frames reach the client in the order they were put. The writer is shielded from the
cancellation of the nursery it runs in, so it never stops in the middle of a frame; ``close``
bounds it by ``close_timeout``. ``frame_aligned`` tells the owner afterwards whether a close frame
may follow (it may not after a write that was cut off, or failed, mid-way).

Each frame is put with its kind: ``DATA`` (a broadcast, which the ``drop_oldest`` policy may drop
when the queue is full) or ``REPLY`` (an answer to the client's own message: never dropped, its
sender waits for room instead).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final

import trio

WriteNowait = Callable[[bytes], int]
"""Write what the transport takes now, without waiting; return the number of bytes written."""
SendAll = Callable[[bytes], Awaitable[None]]
"""Send every byte and wait until done; raise ``trio.BrokenResourceError`` once it cannot."""


class Put(enum.Enum):
    """What became of a data frame handed to ``Outbox.put_data``."""

    SENT = "sent"
    """Written, or queued for the writer."""
    SENT_DROPPING_OLDEST = "sent, dropping the oldest"
    """Queued after the oldest queued data frame was dropped to make room (``drop_oldest``)."""
    FULL = "full"
    """Not queued: the queue is full and nothing in it may be dropped. The client is too slow."""
    CLOSED = "closed"
    """Not queued: the outbox is closed."""


# Module-level names for the outcomes: on Python 3.11 reading ``Put.SENT`` costs several times a
# global's lookup, and ``put_data`` runs once per subscriber per broadcast.
SENT: Final = Put.SENT
SENT_DROPPING_OLDEST: Final = Put.SENT_DROPPING_OLDEST
FULL: Final = Put.FULL
CLOSED: Final = Put.CLOSED


class Outbox:
    """The frames on their way to one client, written in the order they were put.

    ``size`` bounds the queue (frames, not bytes); ``drop_oldest`` is the slow-consumer policy
    for data frames when it is full (otherwise ``put_data`` reports ``FULL`` and the owner closes
    the client); ``close_timeout`` bounds the writer once ``close`` is called.
    """

    __slots__ = (
        "_close_timeout",
        "_closed",
        "_drop_oldest",
        "_head_is_rest",
        "_mid_frame",
        "_nursery",
        "_queue",
        "_room",
        "_send_all",
        "_size",
        "_write_nowait",
        "_writer",
    )

    def __init__(
        self,
        write_nowait: WriteNowait | None,
        send_all: SendAll,
        *,
        size: int,
        drop_oldest: bool = False,
        close_timeout: float = 2.0,
    ) -> None:
        self._write_nowait = write_nowait
        self._send_all = send_all
        self._size = size
        self._drop_oldest = drop_oldest
        self._close_timeout = close_timeout
        self._nursery: trio.Nursery | None = None
        # Made once something has to wait: (frame, droppable), oldest first.
        self._queue: deque[tuple[bytes, bool]] | None = None
        self._room: trio.lowlevel.ParkingLot | None = None  # reply senders waiting for room
        self._writer: trio.CancelScope | None = None  # set while a writer task is running
        self._head_is_rest = False  # the queue's head is the rest of a frame begun on the wire
        self._mid_frame = False  # the stream stopped inside a frame
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called or the transport failed: nothing more is accepted."""
        return self._closed

    @property
    def frame_aligned(self) -> bool:
        """Whether the stream ends on a frame boundary (so a close frame may follow)."""
        return not self._mid_frame

    def bind(self, nursery: trio.Nursery) -> None:
        """Run the writer, when one is needed, in ``nursery`` (queued frames wait until then)."""
        self._nursery = nursery
        if self._queue and self._writer is None:
            self._start_writer()

    def put_data(self, frame: bytes) -> Put:
        """Write or queue a data frame without waiting; see ``Put`` for the outcomes."""
        if self._closed:
            return CLOSED
        # The fast path, inlined (one call fewer per subscriber per broadcast): _write_now.
        write_nowait = self._write_nowait
        if write_nowait is not None and self._writer is None and not self._queue:
            written = write_nowait(frame)
            if written == len(frame):
                return SENT
            if written:
                self._queue_rest(frame, written)
                return SENT
        if self._queued() < self._size:
            self._enqueue(frame, True)
            return SENT
        if self._drop_oldest and self._drop_oldest_data():
            self._enqueue(frame, True)
            return SENT_DROPPING_OLDEST
        return FULL

    async def put_reply(self, frame: bytes) -> bool:
        """Write or queue a reply frame, waiting for room in the queue (backpressure).

        Returns False, sending nothing, if the outbox is or gets closed meanwhile.
        """
        if self._closed:
            return False
        if self._write_now(frame):
            return True
        while self._queued() >= self._size:
            if self._room is None:
                self._room = trio.lowlevel.ParkingLot()
            await self._room.park()
            if self._closed:
                return False
        self._enqueue(frame, False)
        return True

    def close(self) -> None:
        """Accept nothing more and drop what is queued, except the rest of a begun frame.

        A writer still running finishes its write, and that rest, within ``close_timeout``;
        reply senders waiting for room return False.
        """
        self._closed = True
        queue = self._queue
        if queue:
            head = queue[0] if self._head_is_rest else None
            queue.clear()
            if head is not None:
                queue.append(head)
        if self._room is not None:
            self._room.unpark_all()
        if self._writer is not None:
            self._writer.deadline = min(
                self._writer.deadline, trio.current_time() + self._close_timeout
            )

    # -- internals ----------------------------------------------------------------------------

    def _queued(self) -> int:
        return 0 if self._queue is None else len(self._queue)

    def _write_now(self, frame: bytes) -> bool:
        """Write ``frame`` at once if nothing is ahead of it, queueing any rest; False if the
        frame has to take the queued path (nothing was written)."""
        write_nowait = self._write_nowait
        if write_nowait is None or self._writer is not None or self._queue:
            return False
        written = write_nowait(frame)
        if written == 0:
            return False
        if written < len(frame):
            self._queue_rest(frame, written)
        return True

    def _queue_rest(self, frame: bytes, written: int) -> None:
        """Queue what a partial write left of ``frame``: mid-frame until the writer sends it,
        ahead of everything else, and never dropped."""
        self._mid_frame = True
        self._enqueue(frame[written:], False)
        self._head_is_rest = True

    def _enqueue(self, frame: bytes, droppable: bool) -> None:
        if self._queue is None:
            self._queue = deque()
        self._queue.append((frame, droppable))
        if self._writer is None and self._nursery is not None:
            self._start_writer()

    def _start_writer(self) -> None:
        assert self._nursery is not None
        self._writer = trio.CancelScope(shield=True)
        if self._closed:
            self._writer.deadline = trio.current_time() + self._close_timeout
        self._nursery.start_soon(self._write_loop, self._writer)

    def _drop_oldest_data(self) -> bool:
        """Drop the oldest queued data frame; False if none may be dropped."""
        queue = self._queue
        assert queue is not None
        for index, (_, droppable) in enumerate(queue):
            if droppable:
                del queue[index]
                return True
        return False

    async def _write_loop(self, scope: trio.CancelScope) -> None:
        """Drain the queue in batches, then end (the next queued frame starts a new writer)."""
        queue = self._queue
        assert queue is not None
        try:
            with scope:
                while queue:
                    if self._closed:
                        if not self._head_is_rest:
                            break
                        batch = queue.popleft()[0]  # finish the frame begun on the wire
                    elif len(queue) == 1:
                        batch = queue.popleft()[0]
                    else:
                        batch = b"".join([frame for frame, _ in queue])
                        queue.clear()
                    self._head_is_rest = False
                    if self._room is not None:
                        self._room.unpark_all()
                    self._mid_frame = True
                    try:
                        await self._send_all(batch)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        self.close()
                        break
                    self._mid_frame = False
        finally:
            self._writer = None
