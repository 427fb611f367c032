"""The outbox against a fake socket that takes at most N bytes a call and may stall.

Each row is a script run against one ``Outbox``: put data frames and replies, let the client
read (``drain``), close, let time pass. Frames are opaque bytes to the outbox, so each is one
letter repeated and the bytes the client received show the order and every frame boundary.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import trio
import trio.testing

from trio_socketapi._outbox import Outbox, Put

CLOSE_TIMEOUT = 2.0
SENT, DROPPING, FULL, CLOSED = Put.SENT, Put.SENT_DROPPING_OLDEST, Put.FULL, Put.CLOSED


class FakeSocket:
    """Takes at most ``chunk`` bytes a call, and at most ``room`` more until ``drain``
    (``None``: unlimited); what it took is in ``wire``, in order."""

    def __init__(self, chunk: int, room: int | None, *, broken: bool = False) -> None:
        self.chunk = chunk
        self.room = room
        self.broken = broken
        self.wire = bytearray()
        self.nowait_calls = 0
        self._drained = trio.Event()

    def _take(self, data: bytes | memoryview) -> int:
        taken = min(len(data), self.chunk, len(data) if self.room is None else self.room)
        self.wire += data[:taken]
        if self.room is not None:
            self.room -= taken
        return taken

    def write_nowait(self, data: bytes) -> int:
        self.nowait_calls += 1
        return self._take(data)

    async def send_all(self, data: bytes) -> None:
        if self.broken:
            raise trio.BrokenResourceError("gone")
        view = memoryview(data)
        while view:
            taken = self._take(view)
            view = view[taken:]
            if taken == 0:
                await self._drained.wait()
            else:
                await trio.lowlevel.checkpoint()

    def drain(self, room: int | None) -> None:
        """The client reads: the socket takes ``room`` more bytes (``None``: any amount)."""
        self.room = None if room is None or self.room is None else self.room + room
        self._drained.set()
        self._drained = trio.Event()


@attrs.frozen
class Row:
    id: str
    script: list[tuple[str, Any]]
    wire: bytes
    puts: list[Put] = attrs.field(factory=list)
    replies: list[bool] = attrs.field(factory=list)
    size: int = 2
    chunk: int = 100
    room: int | None = None
    nowait: bool = True
    drop_oldest: bool = False
    broken: bool = False
    aligned: bool = True
    closed: bool = False


A, B, C, R = b"aaaa", b"bbbb", b"cccc", b"rr"

ROWS = [
    Row(
        "whole frames go straight to an idle client's socket, in order",
        [("data", A), ("reply", R), ("data", B)],
        wire=A + R + B,
        puts=[SENT, SENT],
        replies=[True],
    ),
    Row(
        "a partial write queues the rest ahead of every later frame",
        [("data", A), ("data", B), ("reply", R), ("settle", None)],
        chunk=3,
        wire=A + B + R,
        puts=[SENT, SENT],
        replies=[True],
    ),
    Row(
        "a stalled client under the close policy: the frame past the size is FULL",
        [("data", A), ("data", B), ("data", C)],
        room=0,
        wire=b"",
        puts=[SENT, SENT, FULL],
    ),
    Row(
        "a stalled client under drop_oldest: the oldest data frame makes room",
        [("data", A), ("data", B), ("data", C), ("drain", None), ("settle", None)],
        room=0,
        drop_oldest=True,
        wire=B + C,
        puts=[SENT, SENT, DROPPING],
    ),
    Row(
        "drop_oldest never drops a reply",
        [
            ("data", A),
            ("settle", None),
            ("reply", R),
            ("data", B),
            ("data", C),
            ("drain", None),
            ("settle", None),
        ],
        room=0,
        drop_oldest=True,
        wire=A + R + C,
        puts=[SENT, SENT, DROPPING],
        replies=[True],
    ),
    Row(
        "drop_oldest never drops the rest of a frame begun on the wire",
        [("data", A), ("data", B), ("data", C), ("drain", None), ("settle", None)],
        room=2,
        drop_oldest=True,
        wire=A + C,
        puts=[SENT, SENT, DROPPING],
    ),
    Row(
        "drop_oldest with nothing droppable queued is FULL",
        [("data", A), ("reply", R), ("data", B)],
        room=2,
        size=1,
        drop_oldest=True,
        wire=b"aa",
        puts=[SENT, FULL],
        replies=[True],
        aligned=False,
    ),
    Row(
        "closing mid-frame finishes that frame and drops what was queued behind it",
        [("data", A), ("data", B), ("close", None), ("drain", None), ("settle", None)],
        room=2,
        wire=A,
        puts=[SENT, SENT],
        closed=True,
    ),
    Row(
        "closing mid-frame on a stalled client gives up after close_timeout, mid-frame",
        [("data", A), ("close", None), ("sleep", CLOSE_TIMEOUT + 1)],
        room=2,
        wire=b"aa",
        puts=[SENT],
        aligned=False,
        closed=True,
    ),
    Row(
        "closing an idle outbox: nothing more is accepted, and the stream is frame-aligned",
        [("data", A), ("close", None), ("data", B), ("reply", R)],
        wire=A,
        puts=[SENT, CLOSED],
        replies=[False],
        closed=True,
    ),
    Row(
        "a reply waits for room in a full queue, then goes out in order",
        [
            ("data", A),
            ("settle", None),
            ("data", B),
            ("reply", R),
            ("drain", None),
            ("settle", None),
        ],
        size=1,
        room=0,
        wire=A + B + R,
        puts=[SENT, SENT],
        replies=[True],
    ),
    Row(
        "closing releases a reply waiting for room, unsent",
        [
            ("data", A),
            ("settle", None),
            ("data", B),
            ("reply", R),
            ("close", None),
            ("drain", None),
            ("settle", None),
        ],
        size=1,
        room=0,
        wire=A,
        puts=[SENT, SENT],
        replies=[False],
        closed=True,
    ),
    Row(
        "a transport that fails closes the outbox",
        [("data", A), ("settle", None), ("data", B)],
        nowait=False,
        broken=True,
        wire=b"",
        puts=[SENT, CLOSED],
        aligned=False,
        closed=True,
    ),
    Row(
        "without a non-blocking write every frame goes through the writer, in order",
        [("data", A), ("reply", R), ("data", B), ("settle", None)],
        nowait=False,
        chunk=3,
        size=4,
        wire=A + R + B,
        puts=[SENT, SENT],
        replies=[True],
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
async def test_outbox(row: Row, autojump_clock: trio.testing.MockClock) -> None:
    sock = FakeSocket(row.chunk, row.room, broken=row.broken)
    outbox = Outbox(
        sock.write_nowait if row.nowait else None,
        sock.send_all,
        size=row.size,
        drop_oldest=row.drop_oldest,
        close_timeout=CLOSE_TIMEOUT,
    )
    puts: list[Put] = []
    replies: list[bool] = []

    async def reply(frame: bytes) -> None:
        replies.append(await outbox.put_reply(frame))

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            outbox.bind(nursery)
            for op, arg in row.script:
                if op == "data":
                    puts.append(outbox.put_data(arg))
                elif op == "reply":
                    nursery.start_soon(reply, arg)
                    await trio.testing.wait_all_tasks_blocked()
                elif op == "drain":
                    sock.drain(arg)
                elif op == "close":
                    outbox.close()
                elif op == "sleep":
                    await trio.sleep(arg)
                else:
                    assert op == "settle"
                    await trio.testing.wait_all_tasks_blocked()
            assert (bytes(sock.wire), puts, replies) == (row.wire, row.puts, row.replies)
            assert (outbox.frame_aligned, outbox.closed) == (row.aligned, row.closed)
            outbox.close()  # a writer still blocked gives up within close_timeout


async def test_an_idle_client_costs_one_write_and_no_task() -> None:
    sock = FakeSocket(chunk=100, room=None)
    outbox = Outbox(sock.write_nowait, sock.send_all, size=4)
    async with trio.open_nursery() as nursery:
        outbox.bind(nursery)
        for _ in range(3):
            assert outbox.put_data(A) is SENT
        assert nursery.child_tasks == frozenset()
    assert (sock.nowait_calls, bytes(sock.wire)) == (3, A * 3)


async def test_frames_put_before_bind_wait_for_it_and_keep_their_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sock = FakeSocket(chunk=3, room=None)
    outbox = Outbox(sock.write_nowait, sock.send_all, size=4)
    assert outbox.put_data(A) is SENT  # partial: the rest waits for a writer
    assert outbox.put_data(B) is SENT
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            outbox.bind(nursery)
    assert bytes(sock.wire) == A + B
