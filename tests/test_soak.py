"""A bounded soak: churning clients while numbered broadcasts run (issue 5, item 5).

Many connections subscribe, unsubscribe, call actions (one at a time and pipelined with ids),
and leave, gracefully or abruptly (the transport closed without a close frame, sometimes in the
middle of a frame), while one task broadcasts numbered messages. At the end:

* every subscription got exactly the messages published while it was held: consecutive numbers,
  in order, each once, starting no later than the first message published after its
  ``subscribed`` arrived and ending no earlier than the last one published before its
  ``unsubscribe`` left (``check_segment`` spells the bounds out);
* the clients that stayed connected throughout got every message up to the last;
* the server holds nothing of the gone connections (hub, connection table and counters), and no
  connection was closed as a slow consumer.

Both transports run: in memory under the autojump clock (``SOAK_SECONDS`` of virtual time) and
over loopback TCP (real time). The size comes from the environment; the defaults keep the
suite's run to a few seconds (``SOAK_SEED`` picks another random schedule)::

    SOAK_CONNECTIONS=50 SOAK_SECONDS=2 pytest tests/test_soak.py

The large version, for a ``nox -s soak`` session (minutes: one in memory churns through tens of
thousands of connections, the loopback one through thousands)::

    SOAK_CONNECTIONS=500 SOAK_SECONDS=10 pytest tests/test_soak.py -s
"""

from __future__ import annotations

import functools
import os
import random
import socket
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import attrs
import pydantic_core
import pytest
import trio
import trio.testing
from trio_websocket import WebSocketConnection, open_websocket

from trio_socketapi import SocketAPI
from trio_socketapi._hub import Hub
from trio_socketapi._server import Server
from trio_socketapi.testing import open_test_server

CONNECTIONS = int(os.environ.get("SOAK_CONNECTIONS", "50"))
"""Connection slots; one in five holds its connection and subscription throughout."""
SECONDS = float(os.environ.get("SOAK_SECONDS", "2"))
"""How long the broadcasts run (virtual seconds in memory, real ones over TCP)."""
SEED = int(os.environ.get("SOAK_SEED", "20240611"))
BROADCAST_INTERVAL = 0.01
MAX_CONNECTIONS_PER_SLOT = 10_000
"""Bound on how many connections one churning slot opens (time bounds it long before)."""


def make_app() -> SocketAPI:
    app = SocketAPI(host="127.0.0.1")

    @app.channel("ticker")
    async def ticker(seq: int = -1) -> int:
        return seq

    @app.action("add")
    async def add(a: int, b: int) -> int:
        return a + b

    return app


@attrs.define
class Broadcasts:
    """How far the broadcaster has got: ``started`` calls begun, ``done`` calls returned.

    A broadcast reaches the hub inside the call with no checkpoint before it, so at any moment
    a client looks, every message below ``done`` has been delivered and none from ``started``
    on has.
    """

    total: int
    started: int = 0
    done: int = 0
    finished: trio.Event = attrs.field(factory=trio.Event)
    """Set after the last broadcast."""
    checked: trio.Event = attrs.field(factory=trio.Event)
    """Set once the server's state has been checked with only the stayers connected."""
    segments_checked: int = 0
    frames_checked: int = 0


@attrs.define
class Segment:
    """The data frames one subscription received, and the broadcaster's progress around it."""

    lowest: int
    """``done`` when ``subscribe`` was sent: nothing below it may arrive."""
    must_from: int = -1
    """``started`` when ``subscribed`` arrived: everything from here on must arrive ..."""
    must_to: int = -1
    """... up to (not including) ``done`` when ``unsubscribe`` was sent (or the total)."""
    highest: int = -1
    """``started`` when ``unsubscribed`` arrived: nothing from here on may arrive."""
    seqs: list[int] = attrs.field(factory=list, repr=False)


def check_segment(segment: Segment, *, complete: bool, context: str) -> None:
    """The messages of one subscription: consecutive, each once, within the bounds."""
    seqs = segment.seqs
    where = f"{context}: {seqs[:3]}..{seqs[-3:]} of {len(seqs)}, {segment}"
    if seqs:
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"gap or repeat in {where}"
        assert seqs[0] >= segment.lowest, f"a message from before subscribe in {where}"
    if not complete:
        return
    if seqs:
        assert seqs[-1] < segment.highest, f"a message after unsubscribed in {where}"
    if segment.must_from < segment.must_to:
        assert seqs, f"no messages in {where}"
        assert seqs[0] <= segment.must_from, f"missed the first messages in {where}"
        assert seqs[-1] >= segment.must_to - 1, f"missed the last messages in {where}"


class SoakClient:
    """One connection of a slot: sends requests, reads frames in order, keeps the segments."""

    def __init__(self, ws: WebSocketConnection, broadcasts: Broadcasts, name: str) -> None:
        self.ws = ws
        self.broadcasts = broadcasts
        self.name = name
        self.segment: Segment | None = None
        self.subscribed = False
        self.next_id = 0

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_message(pydantic_core.to_json(message).decode())

    async def reply(self) -> Any:
        """The next frame that is not a data frame; data frames go to the open segment."""
        while True:
            frame = pydantic_core.from_json(await self.ws.get_message())
            if frame.get("type") != "data":
                return frame
            assert frame["channel"] == "ticker", frame
            assert self.subscribed and self.segment is not None, f"{self.name}: stray {frame}"
            self.segment.seqs.append(frame["data"])

    async def subscribe(self, with_id: bool) -> None:
        segment = Segment(lowest=self.broadcasts.done)
        message: dict[str, Any] = {"type": "subscribe", "channel": "ticker"}
        if with_id:
            message["id"] = self._new_id()
        await self.send(message)
        frame = await self.reply()
        assert frame == {"type": "subscribed", "channel": "ticker", **_id_of(message)}, frame
        segment.must_from = self.broadcasts.started
        self.segment, self.subscribed = segment, True

    async def unsubscribe(self) -> None:
        assert self.segment is not None
        self.segment.must_to = self.broadcasts.done
        await self.send({"type": "unsubscribe", "channel": "ticker"})
        assert await self.reply() == {"type": "unsubscribed", "channel": "ticker"}
        self.segment.highest = self.broadcasts.started
        check_segment(self.segment, complete=True, context=self.name)
        self.broadcasts.segments_checked += 1
        self.broadcasts.frames_checked += len(self.segment.seqs)
        self.segment, self.subscribed = None, False

    async def add(self, a: int, b: int) -> None:
        await self.send({"type": "action", "channel": "add", "data": {"a": a, "b": b}})
        assert await self.reply() == {
            "type": "action",
            "channel": "add",
            "status": "completed",
            "data": a + b,
        }

    async def add_pipelined(self, pairs: list[tuple[int, int]]) -> None:
        """Several ``add``s with ids in flight at once; replies may come in any order."""
        expected = {}
        for a, b in pairs:
            message_id = self._new_id()
            expected[message_id] = a + b
            await self.send(
                {"type": "action", "channel": "add", "data": {"a": a, "b": b}, "id": message_id}
            )
        while expected:
            frame = await self.reply()
            assert frame["type"] == "action" and frame["status"] == "completed", frame
            assert frame["data"] == expected.pop(frame["id"]), frame

    async def drain_to_the_end(self) -> None:
        """Read data frames until the last broadcast arrives (the broadcaster has finished)."""
        assert self.segment is not None
        seqs = self.segment.seqs
        while not seqs or seqs[-1] < self.broadcasts.total - 1:
            frame = pydantic_core.from_json(await self.ws.get_message())
            assert frame.get("type") == "data", f"{self.name}: unexpected {frame}"
            seqs.append(frame["data"])

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id


def _id_of(message: dict[str, Any]) -> dict[str, Any]:
    return {"id": message["id"]} if "id" in message else {}


@attrs.define
class Transport:
    """How clients reach the server, and how one vanishes without a close frame."""

    connect: Callable[[], AbstractAsyncContextManager[WebSocketConnection]]
    server: Server


async def vanish(ws: WebSocketConnection, mid_frame: bool) -> None:
    """Close the transport under the WebSocket: no close frame; over TCP, an RST."""
    stream: Any = ws._stream
    if mid_frame:
        # A frame header announcing 1000 bytes, then only a few of them.
        header = struct.pack("!BBH", 0x81, 0x80 | 126, 1000) + b"mask" + b"partial"
        async with ws._stream_lock:
            await stream.send_all(header)
    if isinstance(stream, trio.SocketStream):
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await trio.aclose_forcefully(stream)


async def churning_slot(
    index: int, transport: Transport, broadcasts: Broadcasts, rng: random.Random
) -> int:
    """Connect, do a few random things, leave one way or another; again until the end.

    Returns how many connections the slot opened.
    """
    opened = 0
    while not broadcasts.finished.is_set() and opened < MAX_CONNECTIONS_PER_SLOT:
        opened += 1
        name = f"slot {index} connection {opened}"
        leave = rng.choice(["close", "vanish", "vanish", "vanish-mid-frame"])
        async with transport.connect() as ws:
            client = SoakClient(ws, broadcasts, name)
            for _ in range(rng.randint(1, 8)):
                operation = rng.choice(["subscribe", "toggle", "add", "pipeline", "sleep"])
                if operation == "subscribe" and not client.subscribed:
                    await client.subscribe(with_id=rng.random() < 0.5)
                elif operation == "toggle" and client.subscribed:
                    await client.unsubscribe()
                elif operation == "add":
                    await client.add(rng.randint(-1000, 1000), rng.randint(-(2**40), 2**40))
                elif operation == "pipeline":
                    pairs = [(rng.randint(0, 99), rng.randint(0, 99)) for _ in range(4)]
                    await client.add_pipelined(pairs)
                else:
                    await trio.sleep(rng.uniform(0, 0.05))
            if client.segment is not None:
                check_segment(client.segment, complete=False, context=name)
            if leave == "close":
                await ws.aclose()
            else:
                await vanish(ws, mid_frame=leave == "vanish-mid-frame")
        await trio.sleep(rng.uniform(0.02, 0.1))
    return opened


async def staying_slot(
    index: int,
    transport: Transport,
    broadcasts: Broadcasts,
    rng: random.Random,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Subscribe before the broadcasts start and keep calling actions until they end."""
    name = f"stayer {index}"
    async with transport.connect() as ws:
        client = SoakClient(ws, broadcasts, name)
        await client.subscribe(with_id=index % 2 == 0)
        task_status.started()
        while not broadcasts.finished.is_set():
            await client.add(rng.randint(0, 9), rng.randint(0, 9))
            await trio.sleep(rng.uniform(0, 0.1))
        await client.drain_to_the_end()
        segment = client.segment
        assert segment is not None
        segment.must_to = segment.highest = broadcasts.total
        check_segment(segment, complete=True, context=name)
        assert segment.seqs == list(range(broadcasts.total)), name
        await broadcasts.checked.wait()
        await client.unsubscribe()


async def broadcast_all(app: SocketAPI, broadcasts: Broadcasts) -> None:
    ticker = app._registry.channels["ticker"]
    for seq in range(broadcasts.total):
        broadcasts.started = seq + 1
        await ticker(seq=seq)
        broadcasts.done = seq + 1
        await trio.sleep(BROADCAST_INTERVAL)
    broadcasts.finished.set()


async def wait_for(predicate: Callable[[], bool]) -> None:
    # Polls server-side state; the caller bounds it with fail_after.
    while not predicate():  # noqa: ASYNC110
        await trio.sleep(0.01)


def hub_holds(hub: Hub, count: int) -> bool:
    return len(hub._by_subscriber) == count and hub.subscriber_count("ticker") == count


def server_holds(app: SocketAPI, server: Server, count: int) -> bool:
    """Whether exactly ``count`` connections are left in the server's table and counters."""
    return app.counters.connections_open == count and len(server._connections) == count


async def soak(app: SocketAPI, transport: Transport) -> str:
    """Run the soak on ``transport``; return a summary of what it checked."""
    server = transport.server
    rng = random.Random(SEED)
    stayers = max(1, CONNECTIONS // 5)
    broadcasts = Broadcasts(total=max(1, int(SECONDS / BROADCAST_INTERVAL)))
    opened: list[int] = []

    async def churn(index: int, seed: int) -> None:
        opened.append(await churning_slot(index, transport, broadcasts, random.Random(seed)))

    async with trio.open_nursery() as clients:
        for index in range(stayers):
            await clients.start(
                functools.partial(
                    staying_slot, index, transport, broadcasts, random.Random(rng.random())
                )
            )
        for index in range(CONNECTIONS - stayers):
            clients.start_soon(churn, index, rng.random())
        await broadcast_all(app, broadcasts)
        # Every churning slot has left; the stayers are still connected and subscribed.
        await wait_for(lambda: len(opened) == CONNECTIONS - stayers)
        await wait_for(lambda: server_holds(app, server, stayers))
        assert hub_holds(server.hub, stayers)
        assert app.counters.subscriptions == stayers
        broadcasts.checked.set()
    await wait_for(lambda: server_holds(app, server, 0))
    assert hub_holds(server.hub, 0) and not server.hub._channels
    assert app.counters.subscriptions == 0
    assert app.counters.slow_consumer_closes == 0
    assert app.counters.handler_errors == 0
    assert broadcasts.segments_checked >= stayers
    return (
        f"{stayers + sum(opened)} connections, {broadcasts.total} broadcasts, "
        f"{broadcasts.segments_checked} subscriptions checked "
        f"({broadcasts.frames_checked} data frames), seed {SEED}"
    )


async def soak_in_memory() -> str:
    app = make_app()
    async with open_test_server(app) as test_server:

        @asynccontextmanager
        async def connect() -> AsyncIterator[WebSocketConnection]:
            async with test_server.connect() as client:
                yield client.ws

        return await soak(app, Transport(connect, test_server._server))


async def soak_over_tcp() -> str:
    app = make_app()
    async with trio.open_nursery() as nursery:
        port = await nursery.start(app.serve, "127.0.0.1", 0)
        # The server ``serve`` built is the one receiving the app's broadcasts.
        (receiver,) = app.broker._receivers  # type: ignore[attr-defined]
        server: Server = receiver.__self__

        @asynccontextmanager
        async def connect() -> AsyncIterator[WebSocketConnection]:
            async with open_websocket(
                "127.0.0.1", port, "/", use_ssl=False, message_queue_size=1024
            ) as ws:
                yield ws

        try:
            return await soak(app, Transport(connect, server))
        finally:
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("transport", ["memory", "tcp"])
def test_churning_clients_lose_no_broadcast_and_leave_no_state(transport: str) -> None:
    if transport == "memory":
        body, clock, limit = soak_in_memory, trio.testing.MockClock(autojump_threshold=0), 600.0
    else:
        body, clock, limit = soak_over_tcp, None, 3 * SECONDS + 30

    async def bounded() -> str:
        with trio.fail_after(limit):
            return await body()

    print(f"soak[{transport}]: {trio.run(bounded, clock=clock)}")
