"""Scoped delivery: a channel's RequiredOnSubscribe values are the subscription's key.

PROTOCOL.md "Scoped delivery": rooms, per-user notifications, several keys on one connection,
``params`` on keyed data frames, broadcasts that omit a key, and unsubscribing one key or all.
Every client here subscribes with an ``id`` (``id=1``): that opts its data frames into ``params``
(tests/test_extensions_opt_in.py covers subscriptions without one).
"Nothing arrived" is shown by sequence: a later frame is the very next one the client receives.
"""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from helpers import data_frame, subscribed, unsubscribed

from trio_socketapi import RequiredOnSubscribe, Router, SocketAPI

PONG = {"type": "action", "channel": "ping", "status": "completed", "data": "pong"}


@pytest.fixture
def app(app: SocketAPI) -> SocketAPI:
    @app.channel("chat_room")
    async def chat_room(
        room_id: Annotated[str | None, RequiredOnSubscribe] = None, message: str = "welcome"
    ) -> str:
        return message

    @app.channel("notifications")
    async def notifications(
        user_id: Annotated[int, RequiredOnSubscribe], notification_type: str = "all"
    ) -> str:
        return notification_type

    @app.channel("scores")
    async def scores(
        league: Annotated[str | None, RequiredOnSubscribe] = None,
        team: Annotated[int | None, RequiredOnSubscribe] = None,
        score: int = 0,
    ) -> int:
        return score

    @app.channel("news")
    async def news(headline: str = "") -> str:
        return headline

    return app


def channel(app: SocketAPI, name: str) -> Any:
    return app._registry.channels[name]


async def test_a_room_broadcast_reaches_that_room_only(app: SocketAPI, serve: Any) -> None:
    chat_room = channel(app, "chat_room")
    async with serve(app) as server, server.connect() as in_a, server.connect() as in_b:
        assert await in_a.subscribe("chat_room", {"room_id": "a"}, id=1) == subscribed(
            "chat_room", id=1
        )
        assert await in_b.subscribe("chat_room", {"room_id": "b"}, id=1) == subscribed(
            "chat_room", id=1
        )
        await chat_room(room_id="a", message="for a")
        await chat_room(room_id="b", message="for b")
        assert await in_a.receive_json() == data_frame(
            "chat_room", "for a", params={"room_id": "a"}
        )
        assert await in_b.receive_json() == data_frame(
            "chat_room", "for b", params={"room_id": "b"}
        )
        assert await in_a.action("ping") == PONG


async def test_notifications_reach_the_user_whose_int_key_matches_after_coercion(
    app: SocketAPI, serve: Any
) -> None:
    notifications = channel(app, "notifications")
    async with serve(app) as server, server.connect() as user7, server.connect() as user8:
        assert await user7.subscribe("notifications", {"user_id": "7"}, id=1) == subscribed(
            "notifications", id=1
        )
        assert await user8.subscribe("notifications", {"user_id": 8}, id=1) == subscribed(
            "notifications", id=1
        )
        assert await notifications(user_id=7, notification_type="mention") == "mention"
        assert await notifications(user_id="8", notification_type="reply") == "reply"
        assert await user7.receive_json() == data_frame(
            "notifications", "mention", params={"user_id": 7}
        )
        assert await user8.receive_json() == data_frame(
            "notifications", "reply", params={"user_id": 8}
        )


async def test_one_connection_in_several_rooms_tells_them_apart_by_params(
    app: SocketAPI, connect: Any
) -> None:
    chat_room = channel(app, "chat_room")
    async with connect(app) as client:
        for room in ("a", "b", "c"):
            assert await client.subscribe("chat_room", {"room_id": room}, id=1) == subscribed(
                "chat_room", id=1
            )
        await chat_room(room_id="b", message="1")
        await chat_room(room_id="a", message="2")
        await chat_room(room_id="z", message="nobody")
        assert await client.receive_json() == data_frame("chat_room", "1", params={"room_id": "b"})
        assert await client.receive_json() == data_frame("chat_room", "2", params={"room_id": "a"})
        assert await client.action("ping") == PONG


async def test_a_key_passed_positionally_scopes_the_broadcast_too(
    app: SocketAPI, connect: Any
) -> None:
    chat_room = channel(app, "chat_room")
    async with connect(app) as client:
        assert await client.subscribe("chat_room", {"room_id": "a"}, id=1) == subscribed(
            "chat_room", id=1
        )
        await chat_room("b", "not for a")
        await chat_room("a", "for a")
        assert await client.receive_json() == data_frame(
            "chat_room", "for a", params={"room_id": "a"}
        )


async def test_data_frames_of_an_unkeyed_channel_have_no_params(
    app: SocketAPI, connect: Any
) -> None:
    news = channel(app, "news")
    async with connect(app) as client:
        assert await client.subscribe("news", id=1) == subscribed("news", id=1)
        await news(headline="extra")
        assert await client.receive_json() == {"type": "data", "channel": "news", "data": "extra"}


async def test_a_broadcast_that_omits_the_key_reaches_every_subscriber(
    app: SocketAPI, serve: Any
) -> None:
    chat_room = channel(app, "chat_room")
    async with serve(app) as server, server.connect() as in_a, server.connect() as in_b:
        assert await in_a.subscribe("chat_room", {"room_id": "a"}, id=1) == subscribed(
            "chat_room", id=1
        )
        assert await in_b.subscribe("chat_room", {"room_id": "b"}, id=1) == subscribed(
            "chat_room", id=1
        )
        await chat_room(message="everyone")
        assert await in_a.receive_json() == data_frame(
            "chat_room", "everyone", params={"room_id": "a"}
        )
        assert await in_b.receive_json() == data_frame(
            "chat_room", "everyone", params={"room_id": "b"}
        )


async def test_a_broadcast_naming_some_keys_reaches_the_subscriptions_that_agree(
    app: SocketAPI, connect: Any
) -> None:
    scores = channel(app, "scores")
    async with connect(app) as client:
        for league, team in (("east", 1), ("east", 2), ("west", 1)):
            reply = await client.subscribe("scores", {"league": league, "team": team}, id=1)
            assert reply == subscribed("scores", id=1)
        await scores(league="east", score=10)
        frames = [await client.receive_json() for _ in range(2)]
        assert sorted(frames, key=lambda f: f["params"]["team"]) == [
            data_frame("scores", 10, params={"league": "east", "team": 1}),
            data_frame("scores", 10, params={"league": "east", "team": 2}),
        ]
        await scores(team=1, score=20)
        frames = [await client.receive_json() for _ in range(2)]
        assert sorted(frames, key=lambda f: f["params"]["league"]) == [
            data_frame("scores", 20, params={"league": "east", "team": 1}),
            data_frame("scores", 20, params={"league": "west", "team": 1}),
        ]
        await scores(league="west", team=1, score=30)
        assert await client.receive_json() == data_frame(
            "scores", 30, params={"league": "west", "team": 1}
        )
        assert await client.action("ping") == PONG


async def test_unsubscribe_with_data_removes_only_that_subscription(
    app: SocketAPI, connect: Any
) -> None:
    chat_room = channel(app, "chat_room")
    async with connect(app) as client:
        for room in ("a", "b"):
            assert await client.subscribe("chat_room", {"room_id": room}, id=1) == subscribed(
                "chat_room", id=1
            )
        reply = await client.unsubscribe("chat_room", {"room_id": "a"})
        assert reply == unsubscribed("chat_room")
        await chat_room(room_id="a", message="gone")
        await chat_room(room_id="b", message="kept")
        assert await client.receive_json() == data_frame(
            "chat_room", "kept", params={"room_id": "b"}
        )


async def test_unsubscribe_with_a_coerced_key_removes_the_matching_subscription(
    app: SocketAPI, connect: Any
) -> None:
    notifications = channel(app, "notifications")
    async with connect(app) as client:
        for user in (7, 8):
            assert await client.subscribe("notifications", {"user_id": user}, id=1) == subscribed(
                "notifications", id=1
            )
        assert await client.unsubscribe("notifications", {"user_id": "7"}) == unsubscribed(
            "notifications"
        )
        await notifications(user_id=7)
        await notifications(user_id=8)
        assert await client.receive_json() == data_frame(
            "notifications", "all", params={"user_id": 8}
        )


async def test_unsubscribe_without_data_removes_every_subscription_of_the_channel(
    app: SocketAPI, connect: Any
) -> None:
    chat_room = channel(app, "chat_room")
    news = channel(app, "news")
    async with connect(app) as client:
        for room in ("a", "b"):
            assert await client.subscribe("chat_room", {"room_id": room}, id=1) == subscribed(
                "chat_room", id=1
            )
        assert await client.subscribe("news", id=1) == subscribed("news", id=1)
        assert await client.unsubscribe("chat_room") == unsubscribed("chat_room")
        await chat_room(room_id="a", message="gone")
        await chat_room(message="gone too")
        await news(headline="still subscribed here")
        assert await client.receive_json() == data_frame("news", "still subscribed here")


async def test_a_keyed_default_response_carries_params(app: SocketAPI, connect: Any) -> None:
    router = Router()

    @router.channel("board")
    async def board(topic: Annotated[str, RequiredOnSubscribe], text: str = "welcome") -> str:
        return f"{text} to {topic}"

    app.include_router(router)
    async with connect(app) as client:
        assert await client.subscribe("board", {"topic": "trio"}, id=1) == subscribed("board", id=1)
        assert await client.receive_json() == data_frame(
            "board", "welcome to trio", params={"topic": "trio"}
        )


async def test_a_broadcast_after_subscribe_and_before_unsubscribe_is_delivered_exactly_once(
    app: SocketAPI, connect: Any
) -> None:
    chat_room = channel(app, "chat_room")
    async with connect(app) as client:
        assert await client.subscribe("chat_room", {"room_id": "a"}, id=1) == subscribed(
            "chat_room", id=1
        )
        assert await client.subscribe("chat_room", {"room_id": "a"}, id=1) == subscribed(
            "chat_room", id=1
        )
        await chat_room(room_id="a", message="once")
        assert await client.receive_json() == data_frame(
            "chat_room", "once", params={"room_id": "a"}
        )
        assert await client.action("ping") == PONG


async def test_unsubscribe_with_an_invalid_key_is_refused_and_keeps_the_subscription(
    app: SocketAPI, connect: Any
) -> None:
    notifications = channel(app, "notifications")
    async with connect(app) as client:
        assert await client.subscribe("notifications", {"user_id": 7}, id=1) == subscribed(
            "notifications", id=1
        )
        assert await client.unsubscribe("notifications", {"user_id": "seven"}) == {
            "type": "error",
            "message": "Invalid parameters for action 'notifications'",
        }
        await notifications(user_id=7)
        assert await client.receive_json() == data_frame(
            "notifications", "all", params={"user_id": 7}
        )
