"""Extensions are opt-in per message (PROTOCOL.md): ``params`` on keyed data frames only for a
subscription made by a ``subscribe`` that carried an ``id``.

A client that never sends an ``id`` gets exactly socketapi's ``{"type","channel","data"}``.
The hub still encodes each broadcast cheaply: the plain frame once per broadcast, the frame
with ``params`` once per key group, each only if a subscriber of that kind exists.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Annotated, Any

import pytest

from trio_socketapi import RequiredOnSubscribe, SocketAPI
from trio_socketapi import _hub as hub_module
from trio_socketapi.testing import TestClient


@pytest.fixture
def app(app: SocketAPI) -> SocketAPI:
    @app.channel("room", default_response=True)
    async def room(
        room_id: Annotated[str | None, RequiredOnSubscribe] = None, text: str = "welcome"
    ) -> str:
        return text

    @app.channel("news")
    async def news(text: str = "") -> str:
        return text

    return app


async def probe(client: TestClient) -> None:
    """The next frame answers a fresh request: nothing else was queued before it."""
    assert await client.action("ping") == {
        "type": "action",
        "channel": "ping",
        "status": "completed",
        "data": "pong",
    }


async def test_a_subscription_without_id_gets_socketapis_exact_frames(
    app: SocketAPI, connect: Any
) -> None:
    room = app._registry.channels["room"]
    async with connect(app) as client:
        assert await client.subscribe("room", {"room_id": "a"}) == {
            "type": "subscribed",
            "channel": "room",
        }
        assert await client.receive_json() == {"type": "data", "channel": "room", "data": "welcome"}
        await room(room_id="a", text="hi")
        assert await client.receive_json() == {"type": "data", "channel": "room", "data": "hi"}


async def test_a_subscription_with_id_gets_params_on_its_data_frames(
    app: SocketAPI, connect: Any
) -> None:
    room = app._registry.channels["room"]
    async with connect(app) as client:
        assert await client.subscribe("room", {"room_id": "a"}, id="s1") == {
            "type": "subscribed",
            "channel": "room",
            "id": "s1",
        }
        default = {"type": "data", "channel": "room", "data": "welcome", "params": {"room_id": "a"}}
        assert await client.receive_json() == default
        await room(room_id="a", text="hi")
        assert await client.receive_json() == {**default, "data": "hi"}


async def test_one_key_group_serves_each_subscriber_its_own_variant(
    app: SocketAPI, serve: Any
) -> None:
    room = app._registry.channels["room"]
    async with serve(app) as server, server.connect() as plain, server.connect() as extended:
        await plain.subscribe("room", {"room_id": "a"})
        await plain.receive_json()
        await extended.subscribe("room", {"room_id": "a"}, id=1)
        await extended.receive_json()

        await room(room_id="a", text="hi")

        assert await plain.receive_json() == {"type": "data", "channel": "room", "data": "hi"}
        assert await extended.receive_json() == {
            "type": "data",
            "channel": "room",
            "data": "hi",
            "params": {"room_id": "a"},
        }


async def test_subscribing_again_switches_the_variant_and_stays_one_subscription(
    app: SocketAPI, serve: Any
) -> None:
    room = app._registry.channels["room"]
    async with serve(app) as server, server.connect() as client:
        await client.subscribe("room", {"room_id": "a"}, id=1)
        await client.receive_json()
        await client.subscribe("room", {"room_id": "a"})
        await client.receive_json()
        assert server.subscriber_count("room") == 1

        await room(room_id="a", text="hi")

        assert await client.receive_json() == {"type": "data", "channel": "room", "data": "hi"}
        await probe(client)  # delivered once, not once per subscribe


async def test_an_unkeyed_channel_sends_the_same_frame_with_or_without_id(
    app: SocketAPI, serve: Any
) -> None:
    news = app._registry.channels["news"]
    async with serve(app) as server, server.connect() as plain, server.connect() as extended:
        await plain.subscribe("news")
        await extended.subscribe("news", id=1)
        await news(text="hi")
        for client in (plain, extended):
            assert await client.receive_json() == {"type": "data", "channel": "news", "data": "hi"}


@pytest.mark.parametrize(
    ("subscriptions", "encodings"),
    [
        pytest.param([("a", None), ("b", None), ("c", None)], 1, id="plain-only-once"),
        pytest.param([("a", 1), ("b", 2)], 2, id="extended-once-per-key-group"),
        pytest.param([("a", None), ("a", 1), ("b", None), ("b", 2)], 3, id="both"),
        pytest.param([("a", 1), ("a", 2), ("a", 3)], 1, id="one-group-many-extended"),
    ],
)
async def test_a_broadcast_encodes_each_variant_once_and_only_when_someone_gets_it(
    app: SocketAPI,
    serve: Any,
    monkeypatch: pytest.MonkeyPatch,
    subscriptions: list[tuple[str, int | None]],
    encodings: int,
) -> None:
    room = app._registry.channels["room"]
    async with serve(app) as server, AsyncExitStack() as stack:
        clients = []
        for room_id, message_id in subscriptions:
            client = await stack.enter_async_context(server.connect())
            clients.append(client)
            await client.subscribe("room", {"room_id": room_id}, id=message_id)
            await client.receive_json()
        encoded: list[bytes] = []
        real_text_frame = hub_module.text_frame

        def counting_text_frame(payload: bytes) -> bytes:
            encoded.append(payload)
            return real_text_frame(payload)

        monkeypatch.setattr(hub_module, "text_frame", counting_text_frame)

        await room(text="to every room")  # omits the key: every key group

        assert len(encoded) == encodings
        for client in clients:
            assert (await client.receive_json())["data"] == "to every room"
