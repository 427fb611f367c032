"""Channels (publish / subscribe), PROTOCOL.md "Channels", through the real server.

"Nothing arrived" is shown by sequence, never by waiting: after the step that must not deliver,
the client sends ``ping`` (or a later broadcast is made) and the very next frame is that reply.
"""

from __future__ import annotations

from typing import Annotated, Any

import pytest
import trio
from helpers import data_frame, error, subscribed, unsubscribed

from trio_socketapi import RequiredOnSubscribe, Router, SocketAPI

PONG = {"type": "action", "channel": "ping", "status": "completed", "data": "pong"}


@pytest.fixture
def calls() -> list[dict[str, Any]]:
    """The arguments each channel function call received, in order."""
    return []


@pytest.fixture
def app(app: SocketAPI, calls: list[dict[str, Any]]) -> SocketAPI:
    @app.channel("chat")
    async def chat(message: str = "welcome") -> dict[str, str]:
        calls.append({"message": message})
        return {"text": message}

    @app.channel("lobby", default_response=True)
    async def lobby(message: str = "welcome") -> dict[str, str]:
        return {"text": message}

    @app.channel("room")
    async def room_feed(room: Annotated[int, RequiredOnSubscribe], text: str = "hi") -> str:
        calls.append({"room": room, "text": text})
        return text

    return app


async def test_subscribe_replies_subscribed_and_no_default_response_on_socketapi_channel(
    app: SocketAPI, connect: Any
) -> None:
    async with connect(app) as client:
        assert await client.subscribe("chat") == subscribed("chat")
        assert await client.action("ping") == PONG


async def test_default_response_true_sends_the_result_to_the_subscriber_only(
    app: SocketAPI, serve: Any
) -> None:
    async with serve(app) as server, server.connect() as alice, server.connect() as bob:
        assert await bob.subscribe("lobby") == subscribed("lobby")
        assert await bob.receive_json() == data_frame("lobby", {"text": "welcome"})
        assert await alice.subscribe("lobby") == subscribed("lobby")
        assert await alice.receive_json() == data_frame("lobby", {"text": "welcome"})
        assert await bob.action("ping") == PONG


async def test_router_channel_default_response_defaults_to_true(
    app: SocketAPI, connect: Any
) -> None:
    router = Router()

    @router.channel("news")
    async def news() -> str:
        return "latest"

    @router.channel("quiet", default_response=False)
    async def quiet() -> str:
        return "latest"

    app.include_router(router)
    async with connect(app) as client:
        assert await client.subscribe("news") == subscribed("news")
        assert await client.receive_json() == data_frame("news", "latest")
        assert await client.subscribe("quiet") == subscribed("quiet")
        assert await client.action("ping") == PONG


@pytest.mark.parametrize(
    ("result", "frame"),
    [
        pytest.param(None, data_frame("d"), id="none-has-no-data-key"),
        *(
            pytest.param(v, data_frame("d", v), id=f"falsy-{v!r}-is-sent")
            for v in (0, "", [], {}, False)
        ),
    ],
)
async def test_default_response_data_key_follows_the_action_rule(
    app: SocketAPI, connect: Any, result: Any, frame: dict[str, Any]
) -> None:
    @app.channel("d", default_response=True)
    async def default() -> Any:
        return result

    async with connect(app) as client:
        assert await client.subscribe("d") == subscribed("d")
        assert await client.receive_json() == frame


async def test_subscribe_passes_the_non_key_parameters_sent_validated_to_the_function(
    app: SocketAPI, connect: Any, calls: list[dict[str, Any]]
) -> None:
    async with connect(app) as client:
        reply = await client.subscribe("room", {"room": "3", "text": "sent on subscribe"})
        assert reply == subscribed("room")
        assert await client.subscribe("chat", {"message": "hello"}) == subscribed("chat")
        assert await client.subscribe("room", {"room": 4}) == subscribed("room")
    assert calls == [
        {"room": 3, "text": "sent on subscribe"},
        {"message": "hello"},
        {"room": 4, "text": "hi"},
    ]


SUBSCRIBE_ERRORS = [
    pytest.param("nope", None, error("Channel 'nope' not found."), id="unknown-channel"),
    pytest.param(
        "room", None, error("Invalid parameters for action 'room_feed'"), id="key-missing"
    ),
    pytest.param(
        "room",
        {"room": "x"},
        error("Invalid parameters for action 'room_feed'"),
        id="key-invalid-names-function",
    ),
    pytest.param(
        "room",
        {"text": "no key"},
        error("Invalid parameters for action 'room_feed'"),
        id="only-non-key-parameters",
    ),
    pytest.param(
        "room",
        {"room": 1, "text": ["not", "a", "str"]},
        error("Invalid parameters for action 'room_feed'"),
        id="non-key-invalid",
    ),
]


@pytest.mark.parametrize(("channel", "payload", "reply"), SUBSCRIBE_ERRORS)
async def test_subscribe_errors(
    app: SocketAPI,
    connect: Any,
    channel: str,
    payload: Any,
    reply: dict[str, Any],
) -> None:
    async with connect(app) as client:
        assert await client.subscribe(channel, payload) == reply
        assert await client.action("ping") == PONG


async def test_a_channel_function_that_raises_on_subscribe_makes_no_subscription(
    app: SocketAPI, serve: Any
) -> None:
    refuse = True

    @app.channel("guarded")
    async def guarded(text: str = "") -> str:
        if refuse:
            raise PermissionError("not allowed yet")
        return text

    async with serve(app) as server, server.connect() as client:
        assert await client.subscribe("guarded") == error("not allowed yet")
        refuse = False
        assert await guarded(text="secret") == "secret"
        assert await client.action("ping") == PONG
        assert server.subscriber_count("guarded") == 0


@pytest.mark.parametrize("default_response", [True, False])
async def test_a_required_parameter_not_sent_subscribes_without_calling_the_function(
    app: SocketAPI, serve: Any, default_response: bool
) -> None:
    called: list[str] = []

    @app.channel("events", default_response=default_response)
    async def events(event: str, data: dict[str, Any]) -> dict[str, Any]:
        called.append(event)
        return {"event": event, "data": data}

    async with serve(app) as server, server.connect() as client:
        assert await client.subscribe("events", {"event": "only one of two"}) == subscribed(
            "events"
        )
        assert await client.action("ping") == PONG  # no default response came first
        assert called == []
        await events(event="order_created", data={"id": 1})
        assert await client.receive_json() == data_frame(
            "events", {"event": "order_created", "data": {"id": 1}}
        )
        assert server.subscriber_count("events") == 1


async def test_a_required_parameter_sent_invalid_is_still_refused(
    app: SocketAPI, serve: Any
) -> None:
    @app.channel("events", default_response=True)
    async def events(event: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"event": event, "data": data}

    async with serve(app) as server, server.connect() as client:
        reply = await client.subscribe("events", {"data": "not a dict"})
        assert reply == error("Invalid parameters for action 'events'")
        assert server.subscriber_count("events") == 0
        reply = await client.subscribe("events", {"event": 5, "data": "x"}, id=1)
        assert [(e["loc"], e["type"]) for e in reply["errors"]] == [
            (["event"], "string_type"),
            (["data"], "dict_type"),
        ]
        assert server.subscriber_count("events") == 0


async def test_unsubscribe_replies_unsubscribed_and_stops_delivery(
    app: SocketAPI, connect: Any
) -> None:
    chat = app._registry.channels["chat"]
    async with connect(app) as client:
        assert await client.subscribe("chat") == subscribed("chat")
        await chat(message="one")
        assert await client.receive_json() == data_frame("chat", {"text": "one"})
        assert await client.unsubscribe("chat") == unsubscribed("chat")
        await chat(message="two")
        assert await client.action("ping") == PONG


@pytest.mark.parametrize(
    ("channel", "payload"),
    [
        pytest.param("chat", None, id="not-subscribed"),
        pytest.param("nope", None, id="unknown-channel"),
        pytest.param("room", {"room": 4}, id="key-not-held"),
    ],
)
async def test_unsubscribe_without_a_subscription_still_replies_unsubscribed(
    app: SocketAPI, connect: Any, channel: str, payload: Any
) -> None:
    async with connect(app) as client:
        assert await client.unsubscribe(channel, payload) == unsubscribed(channel)


async def test_broadcast_runs_the_function_once_and_returns_its_result(
    app: SocketAPI, serve: Any, calls: list[dict[str, Any]]
) -> None:
    chat = app._registry.channels["chat"]
    async with serve(app) as server, server.connect() as alice, server.connect() as bob:
        for client in (alice, bob):
            assert await client.subscribe("chat") == subscribed("chat")
        calls.clear()
        assert await chat(message="hi") == {"text": "hi"}
        assert calls == [{"message": "hi"}]
        for client in (alice, bob):
            assert await client.receive_json() == data_frame("chat", {"text": "hi"})


async def test_broadcast_reaches_subscribers_only(app: SocketAPI, serve: Any) -> None:
    chat = app._registry.channels["chat"]
    async with serve(app) as server, server.connect() as member, server.connect() as other:
        assert await member.subscribe("chat") == subscribed("chat")
        await chat(message="hi")
        assert await member.receive_json() == data_frame("chat", {"text": "hi"})
        assert await other.action("ping") == PONG


async def test_broadcast_with_no_subscribers_still_runs_and_returns(
    app: SocketAPI, serve: Any
) -> None:
    chat = app._registry.channels["chat"]
    async with serve(app):
        assert await chat(message="nobody") == {"text": "nobody"}


@pytest.mark.parametrize(
    ("result", "frame"),
    [
        pytest.param(None, data_frame("b"), id="none-has-no-data-key"),
        *(
            pytest.param(v, data_frame("b", v), id=f"falsy-{v!r}-is-sent")
            for v in (0, "", [], {}, False)
        ),
    ],
)
async def test_broadcast_data_key_follows_the_action_rule(
    app: SocketAPI, connect: Any, result: Any, frame: dict[str, Any]
) -> None:
    @app.channel("b")
    async def broadcast() -> Any:
        return result

    async with connect(app) as client:
        assert await client.subscribe("b") == subscribed("b")
        assert await broadcast() == result
        assert await client.receive_json() == frame


async def test_broadcasts_arrive_in_the_order_they_were_made(app: SocketAPI, connect: Any) -> None:
    chat = app._registry.channels["chat"]
    async with connect(app) as client:
        assert await client.subscribe("chat") == subscribed("chat")
        for n in range(20):
            await chat(message=str(n))
        for n in range(20):
            assert await client.receive_json() == data_frame("chat", {"text": str(n)})


async def test_subscribing_twice_is_one_subscription(app: SocketAPI, connect: Any) -> None:
    chat = app._registry.channels["chat"]
    async with connect(app) as client:
        assert await client.subscribe("chat") == subscribed("chat")
        assert await client.subscribe("chat") == subscribed("chat")
        await chat(message="once")
        assert await client.receive_json() == data_frame("chat", {"text": "once"})
        assert await client.action("ping") == PONG


async def test_a_broadcast_made_by_an_action_precedes_the_action_reply(
    app: SocketAPI, connect: Any
) -> None:
    chat = app._registry.channels["chat"]

    @app.action("say")
    async def say(text: str) -> str:
        await chat(message=text)
        return "sent"

    async with connect(app) as client:
        assert await client.subscribe("chat") == subscribed("chat")
        await client.send_json({"type": "action", "channel": "say", "data": {"text": "yo"}})
        assert await client.receive_json() == data_frame("chat", {"text": "yo"})
        assert await client.receive_json() == {
            "type": "action",
            "channel": "say",
            "status": "completed",
            "data": "sent",
        }


async def test_a_channel_and_an_action_may_share_a_name(app: SocketAPI, connect: Any) -> None:
    @app.action("chat")
    async def chat_action() -> str:
        return "action"

    async with connect(app) as client:
        assert await client.action("chat") == {
            "type": "action",
            "channel": "chat",
            "status": "completed",
            "data": "action",
        }
        assert await client.subscribe("chat") == subscribed("chat")


async def test_a_closed_connection_is_unsubscribed_from_everything(
    app: SocketAPI, serve: Any, autojump_clock: Any
) -> None:
    chat = app._registry.channels["chat"]
    room = app._registry.channels["room"]
    async with serve(app) as server, server.connect() as staying:
        async with server.connect() as leaving:
            assert await leaving.subscribe("chat") == subscribed("chat")
            assert await leaving.subscribe("room", {"room": 1}) == subscribed("room")
            assert await leaving.subscribe("room", {"room": 2}) == subscribed("room")
            assert await staying.subscribe("chat") == subscribed("chat")
            assert (server.subscriber_count("chat"), server.subscriber_count("room")) == (2, 2)
        # The server notices the close a few scheduler ticks after the client: poll, bounded.
        for _ in range(100):
            if (server.subscriber_count("chat"), server.subscriber_count("room")) == (1, 0):
                break
            await trio.sleep(0.01)
        assert (server.subscriber_count("chat"), server.subscriber_count("room")) == (1, 0)
        await chat(message="after")
        await room(room=1)
        assert await staying.receive_json() == data_frame("chat", {"text": "after"})
        assert await staying.action("ping") == PONG
