"""The outbox over a real socket: a client that stops reading until the kernel buffer is full.

tests/test_outbox.py covers the outbox's branches against a fake socket; this runs the same
partial-write path end to end over loopback TCP (the only transport with the direct write), and
checks the client still gets every frame whole and in order once it reads again.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

import pytest
import trio
from trio_websocket import open_websocket

import trio_socketapi._session
from trio_socketapi import Settings, SocketAPI

FRAMES = 200
SIZE = 64 * 1024


async def test_a_client_that_stalls_then_reads_gets_every_frame_whole_and_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    partial_writes = 0
    real_writer = trio_socketapi._session.nowait_writer

    def counting_writer(sock: socket.socket) -> Callable[[bytes], int]:
        write = real_writer(sock)

        def write_nowait(frames: bytes) -> int:
            nonlocal partial_writes
            written = write(frames)
            partial_writes += 0 < written < len(frames)
            return written

        return write_nowait

    monkeypatch.setattr(trio_socketapi._session, "nowait_writer", counting_writer)
    app = SocketAPI(settings=Settings(outbox_size=FRAMES + 10))

    @app.channel("blob")
    async def blob(index: int = 0) -> dict[str, object]:
        return {"index": index, "pad": "x" * SIZE}

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(app.serve, "127.0.0.1", 0)
            async with open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:
                await ws.send_message('{"type":"subscribe","channel":"blob"}')
                assert json.loads(await ws.get_message())["type"] == "subscribed"
                for index in range(FRAMES):  # the client reads nothing meanwhile
                    await blob(index=index)
                received = []
                for _ in range(FRAMES):
                    frame = json.loads(await ws.get_message())
                    received.append(frame["data"]["index"])
                    assert frame["data"]["pad"] == "x" * SIZE
                assert received == list(range(FRAMES))
            nursery.cancel_scope.cancel()
    assert partial_writes >= 1, "the kernel buffer never filled: the test did not stall"
    assert app.counters.slow_consumer_closes == 0
