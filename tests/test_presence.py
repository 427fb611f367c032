"""Presence in memory: who is subscribed to a stream, and join/leave frames (docs/history.md).

Real server code over in-memory WebSockets, autojump clock. ``connection.info`` is set by a
handshake hook from the query string, the documented way for a signed-in user.
"""

from __future__ import annotations

from typing import Annotated, Any

import pytest
import trio

from trio_socketapi import Connection, RequiredOnSubscribe, SocketAPI
from trio_socketapi._broker import Broadcast
from trio_socketapi.testing import TestClient, open_test_server


def make_app() -> SocketAPI:
    app = SocketAPI()

    @app.on_handshake
    async def sign_in(connection: Connection) -> None:
        connection.info = {"user": connection.query_params.get("user", "anonymous")}

    @app.action("ping")
    async def ping() -> str:
        return "pong"

    @app.channel("chat_room", presence=True)
    async def chat_room(room_id: Annotated[str, RequiredOnSubscribe], text: str = "") -> str:
        return text

    @app.channel("news")
    async def news(text: str = "") -> str:
        return text

    return app


async def join(client: TestClient, room: str = "a", id: int = 1) -> None:
    reply = await client.subscribe("chat_room", {"room_id": room}, id=id)
    assert reply["type"] == "subscribed", reply


def event(kind: str, user: str, client_id: str, room: str = "a") -> dict[str, Any]:
    return {
        "type": kind,
        "channel": "chat_room",
        "params": {"room_id": room},
        "client": client_id,
        "info": {"user": user},
    }


async def presence(app: SocketAPI, room: str = "a") -> dict[str, Any]:
    result: dict[str, Any] = await app._registry.channels["chat_room"].presence(room_id=room)
    return result


async def test_presence_lists_each_connection_with_its_info_and_frames_announce_changes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = make_app()
    async with open_test_server(app) as server, server.connect("/?user=ann") as ann:
        await join(ann)
        [ann_id] = (await presence(app)).keys()
        assert await ann.receive_json() == event("join", "ann", ann_id)
        async with server.connect("/?user=bob") as bob:
            await join(bob)
            members = await presence(app)
            [bob_id] = set(members) - {ann_id}
            assert members == {ann_id: {"user": "ann"}, bob_id: {"user": "bob"}}
            assert await ann.receive_json() == event("join", "bob", bob_id)
            assert await bob.receive_json() == event("join", "bob", bob_id)
        assert await ann.receive_json() == event("leave", "bob", bob_id)
        assert await presence(app) == {ann_id: {"user": "ann"}}
        assert await presence(app, room="b") == {}


async def test_unsubscribing_leaves_and_subscribing_twice_joins_once(
    autojump_clock: trio.testing.MockClock, assert_alive: Any
) -> None:
    app = make_app()
    async with (
        open_test_server(app) as server,
        server.connect("/?user=ann") as ann,
        server.connect("/?user=bob") as bob,
    ):
        await join(bob)
        [bob_id] = (await presence(app)).keys()
        await bob.receive_json()  # its own join
        await join(ann, room="a")
        assert (await ann.receive_json())["type"] == "join"  # its own
        await join(ann, room="a", id=2)  # the same stream again: no second join
        [ann_id] = set(await presence(app)) - {bob_id}
        assert await bob.receive_json() == event("join", "ann", ann_id)
        reply = await ann.unsubscribe("chat_room", {"room_id": "a"}, id=3)
        assert reply["type"] == "unsubscribed"
        assert await bob.receive_json() == event("leave", "ann", ann_id)
        assert set(await presence(app)) == {bob_id}
        await assert_alive(bob)  # nothing else came


async def test_a_client_without_ids_gets_no_presence_frames_but_is_counted(
    autojump_clock: trio.testing.MockClock, assert_alive: Any
) -> None:
    app = make_app()
    async with open_test_server(app) as server, server.connect("/?user=old") as old:
        assert await old.subscribe("chat_room", {"room_id": "a"}) == {
            "type": "subscribed",
            "channel": "chat_room",
        }
        async with server.connect("/?user=new") as new:
            await join(new)
            assert len(await presence(app)) == 2
        await assert_alive(old)  # no join, no leave frame: the very next one is the pong


async def test_presence_spans_every_server_of_the_app_in_the_process(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = make_app()
    async with open_test_server(app) as one, open_test_server(app) as two:
        async with one.connect("/?user=ann") as ann, two.connect("/?user=bob") as bob:
            await join(ann)
            await join(bob)
            users = sorted(info["user"] for info in (await presence(app)).values())
            assert users == ["ann", "bob"]
            await ann.receive_json()  # ann's join
            assert (await ann.receive_json())["info"] == {"user": "bob"}  # from the other server
        assert await presence(app) == {}


async def test_presence_refuses_what_it_cannot_answer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = make_app()
    async with open_test_server(app):
        with pytest.raises(TypeError, match="presence needs exactly its key"):
            await app._registry.channels["chat_room"].presence()
        with pytest.raises(ValueError, match="has no presence"):
            await app._registry.channels["news"].presence()


def test_presence_events_cross_the_broker_wire_form() -> None:
    event = Broadcast("chat_room", {"room_id": "a"}, None, event=("join", "c1", b'{"user":"x"}'))
    assert Broadcast.decode(event.encode()) == event
    with pytest.raises(ValueError, match="'event' must be"):
        Broadcast.decode(b'{"channel":"chat_room","event":["wave","c1",null]}')
