"""The Python client recovers history channels by itself (docs/history.md, "Clients").

In memory under the autojump clock: the connector hands out in-memory streams and keeps them,
so a test can cut one (the transport closed with no close frame, as a dropped network does) and
let the client reconnect on its own.
"""

from __future__ import annotations

from typing import Annotated, Any

import pytest
import trio
import trio.testing

from trio_socketapi import History, RequiredOnSubscribe, SocketAPI
from trio_socketapi._client_protocol import parse_frame
from trio_socketapi.client import NotRecovered, Reconnect, connect
from trio_socketapi.client import _Subscription as Subscription
from trio_socketapi.testing import TestServer, open_test_server

URL = "ws://testserver/"
FAST = Reconnect(initial_delay=0.1, max_delay=0.5, max_attempts=20)


def make_app(size: int = 50) -> tuple[SocketAPI, Any]:
    app = SocketAPI()

    @app.channel("room", default_response=True, history=History(size=size, ttl=60))
    async def room(name: Annotated[str, RequiredOnSubscribe], text: str = "welcome") -> str:
        return text

    return app, room


class Cuttable:
    """A connector to whichever server is current, that can cut the open connection."""

    def __init__(self, server: TestServer) -> None:
        self.server = server
        self.streams: list[trio.abc.Stream] = []

    async def open_stream(self) -> trio.abc.Stream:
        stream = await self.server.open_stream()
        self.streams.append(stream)
        return stream

    async def cut(self) -> None:
        await trio.aclose_forcefully(self.streams[-1])


async def test_a_dropped_client_gets_what_it_missed_once_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app, room = make_app()
    reconnected = trio.Event()
    async with open_test_server(app) as server:
        link = Cuttable(server)
        async with (
            connect(
                URL,
                connector=link.open_stream,
                reconnect=FAST,
                on_reconnect=lambda _: reconnected.set(),
            ) as client,
            client.subscribe("room", name="a") as feed,
        ):
            assert await feed.receive() == "welcome"
            await room(name="a", text="m1")
            assert await feed.receive() == "m1"
            await link.cut()
            await room(name="a", text="m2")  # published while the client is away
            await room(name="a", text="m3")
            await reconnected.wait()
            await room(name="a", text="m4")
            assert [await feed.receive() for _ in range(3)] == ["m2", "m3", "m4"]
            assert feed.not_recovered == 0
            assert client.reconnects == 1


async def test_history_lost_with_the_server_is_raised_in_the_feed_then_it_carries_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    first_app, first_room = make_app()
    second_app, second_room = make_app()  # a restarted process: its history starts empty
    reconnected = trio.Event()
    async with open_test_server(first_app) as first, open_test_server(second_app) as second:
        link = Cuttable(first)
        async with (
            connect(
                URL,
                connector=link.open_stream,
                reconnect=FAST,
                on_reconnect=lambda _: reconnected.set(),
            ) as client,
            client.subscribe("room", name="a") as feed,
        ):
            assert await feed.receive() == "welcome"
            await first_room(name="a", text="m1")
            assert await feed.receive() == "m1"
            link.server = second
            await link.cut()
            await reconnected.wait()
            with pytest.raises(NotRecovered, match="may be missing"):
                await feed.receive()
            assert await feed.receive() == "welcome"  # the default response follows
            await second_room(name="a", text="fresh")
            assert await feed.receive() == "fresh"
            assert feed.not_recovered == 1


async def test_more_missed_than_history_keeps_is_not_recovered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app, room = make_app(size=3)
    reconnected = trio.Event()
    async with open_test_server(app) as server:
        link = Cuttable(server)
        async with (
            connect(
                URL, connector=link.open_stream, reconnect=FAST,
                on_reconnect=lambda _: reconnected.set(),
            ) as client,
            client.subscribe("room", name="a") as feed,
        ):  # fmt: skip
            assert await feed.receive() == "welcome"
            await link.cut()
            for i in range(5):
                await room(name="a", text=f"m{i}")
            await reconnected.wait()
            with pytest.raises(NotRecovered):
                await feed.receive()
            assert await feed.receive() == "welcome"


def data(offset: int, epoch: str = "e", text: str = "x") -> Any:
    return parse_frame(
        f'{{"type":"data","channel":"room","data":"{text}{offset}","offset":{offset},'
        f'"epoch":"{epoch}"}}'
    )


class Collector:
    def __init__(self) -> None:
        self.items: list[Any] = []
        self.not_recovered = 0

    def put(self, item: Any) -> None:
        self.items.append(item)

    def mark_not_recovered(self) -> None:
        self.items.append("NOT RECOVERED")


@pytest.mark.parametrize(
    ("offsets", "expected"),
    [
        ([(1, "e"), (2, "e"), (3, "e")], ["x1", "x2", "x3"]),
        ([(1, "e"), (2, "e"), (2, "e"), (1, "e"), (3, "e")], ["x1", "x2", "x3"]),
        ([(1, "e"), (3, "e")], ["x1", "NOT RECOVERED", "x3"]),
        ([(5, "e"), (1, "f")], ["x5", "NOT RECOVERED", "x1"]),
    ],
    ids=["in order", "duplicates skipped", "a gap", "another epoch"],
)
def test_a_subscription_skips_duplicates_and_marks_gaps(
    offsets: list[tuple[int, str]], expected: list[str]
) -> None:
    collector = Collector()
    subscription = Subscription("room", {}, {}, [collector])  # type: ignore[list-item]
    for offset, epoch in offsets:
        subscription.deliver(data(offset, epoch))
    assert collector.items == expected
    assert subscription.resume_extra() == {
        "since": {"offset": offsets[-1][0], "epoch": offsets[-1][1]}
    }
