"""Request ids and concurrency, PROTOCOL.md "Request ids and concurrency".

Every reply to a message with an ``id`` echoes it (and error frames name the channel); replies to
messages without one are exactly the core frames. Id-less messages are handled in arrival order;
messages with ids overlap, up to ``Settings.max_in_flight``. Timing uses the autojump clock.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from trio_socketapi import Settings, SocketAPI

PONG = {"type": "action", "channel": "ping", "status": "completed", "data": "pong"}


@pytest.fixture
def app(app: SocketAPI) -> SocketAPI:
    @app.action("add")
    async def add_numbers(a: int, b: int) -> int:
        return a + b

    @app.action("noop")
    async def noop() -> None:
        return None

    @app.action("fail")
    async def fail() -> None:
        raise ValueError("boom")

    @app.channel("chat")
    async def chat(text: str = "") -> str:
        return text

    @app.channel("lobby", default_response=True)
    async def lobby() -> str:
        return "welcome"

    return app


def with_id(frame: dict[str, Any], message_id: str | int, **extra: Any) -> dict[str, Any]:
    return {**frame, "id": message_id, **extra}


# (message without its id, the core reply, the extra keys an id'd error adds besides "id").
REPLIES = [
    pytest.param(
        {"type": "action", "channel": "add", "data": {"a": 1, "b": 2}},
        {"type": "action", "channel": "add", "status": "completed", "data": 3},
        {},
        id="action",
    ),
    pytest.param(
        {"type": "action", "channel": "noop"},
        {"type": "action", "channel": "noop", "status": "completed"},
        {},
        id="action-none-result",
    ),
    pytest.param(
        {"type": "subscribe", "channel": "chat"},
        {"type": "subscribed", "channel": "chat"},
        {},
        id="subscribed",
    ),
    pytest.param(
        {"type": "unsubscribe", "channel": "chat"},
        {"type": "unsubscribed", "channel": "chat"},
        {},
        id="unsubscribed",
    ),
    pytest.param(
        {"type": "publish", "channel": "chat", "data": {"text": "hi"}},
        {"type": "published", "channel": "chat"},
        {},
        id="published",
    ),
    pytest.param(
        {"type": "action", "channel": "nope"},
        {"type": "error", "message": "Action 'nope' not found."},
        {"channel": "nope"},
        id="error-unknown-action",
    ),
    pytest.param(
        {"type": "subscribe", "channel": "nope"},
        {"type": "error", "message": "Channel 'nope' not found."},
        {"channel": "nope"},
        id="error-unknown-channel",
    ),
    pytest.param(
        {"type": "action", "channel": "fail"},
        {"type": "error", "message": "boom"},
        {"channel": "fail"},
        id="error-handler-exception",
    ),
    pytest.param(
        {"type": "action", "channel": "add", "data": {"a": 1}},
        {"type": "error", "message": "Invalid parameters for action 'add_numbers'"},
        {
            "channel": "add",
            "errors": [{"loc": ["b"], "msg": "Field required", "type": "missing"}],
        },
        id="error-invalid-parameters-missing",
    ),
    pytest.param(
        {"type": "action", "channel": "add", "data": {"a": "x", "b": 2}},
        {"type": "error", "message": "Invalid parameters for action 'add_numbers'"},
        {
            "channel": "add",
            "errors": [
                {
                    "loc": ["a"],
                    "msg": "Input should be a valid integer, unable to parse string as an integer",
                    "type": "int_parsing",
                }
            ],
        },
        id="error-invalid-parameters-type",
    ),
    pytest.param(
        {"type": "bogus", "channel": "add"},
        {"type": "error", "message": "Unknown message type: bogus."},
        {"channel": "add"},
        id="error-unknown-type",
    ),
    pytest.param(
        {"channel": "add"},
        {"type": "error", "message": "Message type is required."},
        {"channel": "add"},
        id="error-type-missing",
    ),
    pytest.param(
        {"type": "action"},
        {"type": "error", "message": "Channel is required."},
        {},
        id="error-channel-missing-has-no-channel",
    ),
]


@pytest.mark.parametrize("message_id", ["r-1", 42, 0, ""], ids=["str", "int", "zero", "empty"])
@pytest.mark.parametrize(("message", "reply", "error_extra"), REPLIES)
async def test_every_reply_echoes_the_id(
    app: SocketAPI,
    connect: Any,
    message: dict[str, Any],
    reply: dict[str, Any],
    error_extra: dict[str, Any],
    message_id: str | int,
) -> None:
    async with connect(app) as client:
        await client.send_json({**message, "id": message_id})
        assert await client.receive_json() == with_id(reply, message_id, **error_extra)


@pytest.mark.parametrize(("message", "reply", "error_extra"), REPLIES)
async def test_replies_without_an_id_are_exactly_the_core_frames(
    app: SocketAPI,
    connect: Any,
    message: dict[str, Any],
    reply: dict[str, Any],
    error_extra: dict[str, Any],
) -> None:
    async with connect(app) as client:
        await client.send_json(message)
        assert await client.receive_json() == reply
        await client.send_json({**message, "id": None})
        assert await client.receive_json() == reply


async def test_a_default_response_after_an_id_subscribe_is_a_plain_data_frame(
    app: SocketAPI, connect: Any
) -> None:
    async with connect(app) as client:
        assert await client.subscribe("lobby", id=5) == {
            "type": "subscribed",
            "channel": "lobby",
            "id": 5,
        }
        assert await client.receive_json() == {
            "type": "data",
            "channel": "lobby",
            "data": "welcome",
        }


async def test_a_huge_integer_id_is_echoed_exactly(app: SocketAPI, connect: Any) -> None:
    huge = 10**30
    async with connect(app) as client:
        await client.send_text(f'{{"type": "action", "channel": "ping", "id": {huge}}}')
        assert await client.receive_json() == {**PONG, "id": huge}


async def test_messages_with_ids_run_concurrently(
    app: SocketAPI, connect: Any, autojump_clock: Any
) -> None:
    arrived: list[str] = []
    both_arrived = trio.Event()

    @app.action("meet")
    async def meet(name: str) -> str:
        # Each call waits for the other: only overlapping calls can both finish.
        arrived.append(name)
        if len(arrived) == 2:
            both_arrived.set()
        await both_arrived.wait()
        return name

    async with connect(app) as client:
        await client.send_json(
            {"type": "action", "channel": "meet", "data": {"name": "a"}, "id": 1}
        )
        await client.send_json(
            {"type": "action", "channel": "meet", "data": {"name": "b"}, "id": 2}
        )
        replies = [await client.receive_json() for _ in range(2)]
    assert sorted(replies, key=lambda r: r["id"]) == [
        {"type": "action", "channel": "meet", "status": "completed", "data": "a", "id": 1},
        {"type": "action", "channel": "meet", "status": "completed", "data": "b", "id": 2},
    ]


async def test_a_fast_reply_overtakes_a_slow_one_when_both_have_ids(
    app: SocketAPI, connect: Any, autojump_clock: Any
) -> None:
    @app.action("nap")
    async def nap(seconds: float) -> float:
        await trio.sleep(seconds)
        return seconds

    async with connect(app) as client:
        await client.send_json(
            {"type": "action", "channel": "nap", "data": {"seconds": 5}, "id": "slow"}
        )
        await client.send_json(
            {"type": "action", "channel": "nap", "data": {"seconds": 0}, "id": "fast"}
        )
        assert (await client.receive_json())["id"] == "fast"
        assert (await client.receive_json())["id"] == "slow"


async def test_messages_without_ids_are_handled_one_after_another_in_arrival_order(
    app: SocketAPI, connect: Any, autojump_clock: Any
) -> None:
    log: list[str] = []

    @app.action("nap")
    async def nap(name: str, seconds: float) -> str:
        log.append(f"{name} start")
        await trio.sleep(seconds)
        log.append(f"{name} end")
        return name

    async with connect(app) as client:
        await client.send_json(
            {"type": "action", "channel": "nap", "data": {"name": "slow", "seconds": 5}}
        )
        await client.send_json(
            {"type": "action", "channel": "nap", "data": {"name": "fast", "seconds": 0}}
        )
        started = trio.current_time()
        first = await client.receive_json()
        second = await client.receive_json()
        assert trio.current_time() - started >= 5
    assert (first["data"], second["data"]) == ("slow", "fast")
    assert log == ["slow start", "slow end", "fast start", "fast end"]


async def test_past_max_in_flight_the_server_stops_reading_until_one_finishes(
    app: SocketAPI, connect: Any, autojump_clock: Any
) -> None:
    started: list[str] = []
    release = {name: trio.Event() for name in "abc"}

    @app.action("hold")
    async def hold(name: str) -> str:
        started.append(name)
        await release[name].wait()
        return name

    def done(name: str, message_id: int) -> dict[str, Any]:
        return {
            "type": "action",
            "channel": "hold",
            "status": "completed",
            "data": name,
            "id": message_id,
        }

    async with connect(app, settings=Settings(max_in_flight=2)) as client:
        for message_id, name in enumerate("abc", start=1):
            await client.send_json(
                {"type": "action", "channel": "hold", "data": {"name": name}, "id": message_id}
            )
        await client.send_json({"type": "action", "channel": "ping"})
        with trio.move_on_after(10) as waited:
            await client.receive_json()
        assert waited.cancelled_caught, "nothing is answered while two are in flight"
        assert started == ["a", "b"], "the third id'd message is not even read"

        release["a"].set()
        assert await client.receive_json() == done("a", 1)
        assert await client.receive_json() == PONG, "reading resumed: the ping behind c is answered"
        assert started == ["a", "b", "c"]

        release["c"].set()
        assert await client.receive_json() == done("c", 3)
        release["b"].set()
        assert await client.receive_json() == done("b", 2)
