"""Input the server refuses, PROTOCOL.md "Inbound envelope" and "Robust input", row for row.

Each refusal is an exact error frame, and the same connection answers a good action right after
(``assert_alive``), except for the one row that closes it (a frame over ``max_message_size``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
from helpers import error

from trio_socketapi import RequiredOnSubscribe, Settings, SocketAPI


@pytest.fixture
def app(app: SocketAPI) -> SocketAPI:
    @app.action("add")
    async def add_numbers(a: int, b: int) -> int:
        return a + b

    @app.action("size")
    async def size(text: str) -> int:
        return len(text)

    @app.action("echo")
    async def echo(value: Any = None) -> Any:
        return value

    @app.action("describe")
    async def describe(value: Any = None) -> str:
        return repr(value)

    @app.channel("room")
    async def room_feed(room: Annotated[int, RequiredOnSubscribe]) -> int:
        return room

    @app.channel("open")
    async def open_feed() -> str:
        return "open"

    return app


INVALID_ACTION = error("Invalid parameters for action 'add_numbers'")
INVALID_SUBSCRIBE = error("Invalid parameters for action 'room_feed'")

# PROTOCOL.md "Inbound envelope" (in order) and "Robust input", as raw text frames.
TEXT_FRAMES = [
    pytest.param("not json", error("Invalid JSON."), id="text-not-json"),
    pytest.param("", error("Invalid JSON."), id="empty-frame"),
    pytest.param('{"type": "action", "channel": "add"', error("Invalid JSON."), id="truncated"),
    pytest.param("[1, 2]", error("Message must be a JSON object."), id="json-list"),
    pytest.param('"action"', error("Message must be a JSON object."), id="json-string"),
    pytest.param("3.5", error("Message must be a JSON object."), id="json-number"),
    pytest.param("null", error("Message must be a JSON object."), id="json-null"),
    pytest.param("{}", error("Message type is required."), id="type-missing"),
    pytest.param(
        '{"type": "", "channel": "add"}', error("Message type is required."), id="type-empty"
    ),
    pytest.param('{"type": "action"}', error("Channel is required."), id="channel-missing"),
    pytest.param(
        '{"type": "action", "channel": ""}', error("Channel is required."), id="channel-empty"
    ),
    pytest.param(
        '{"type": "nonsense", "channel": "add"}',
        error("Unknown message type: nonsense."),
        id="unknown-type",
    ),
    pytest.param(
        '{"type": "action", "channel": "add", "data": [1, 2]}', INVALID_ACTION, id="data-list"
    ),
    pytest.param(
        '{"type": "action", "channel": "add", "data": "a=1"}', INVALID_ACTION, id="data-string"
    ),
    pytest.param('{"type": "action", "channel": "add", "data": 12}', INVALID_ACTION, id="data-num"),
    pytest.param(
        '{"type": "action", "channel": "add", "data": true}', INVALID_ACTION, id="data-bool"
    ),
    pytest.param(
        '{"type": "subscribe", "channel": "room", "data": [1]}',
        INVALID_SUBSCRIBE,
        id="subscribe-data-list",
    ),
    pytest.param(
        '{"type": "subscribe", "channel": "room", "data": "1"}',
        INVALID_SUBSCRIBE,
        id="subscribe-data-string",
    ),
    pytest.param(
        '{"type": "subscribe", "channel": "room", "data": 1}',
        INVALID_SUBSCRIBE,
        id="subscribe-data-number",
    ),
    pytest.param(
        '{"type": "subscribe", "channel": "open", "data": [1]}',
        error("Invalid parameters for action 'open_feed'"),
        id="subscribe-keyless-channel-data-list",
    ),
    pytest.param(
        '{"type": "action", "channel": "add", "data": {"a": NaN, "b": 1}}',
        INVALID_ACTION,
        id="nan-for-int",
    ),
    pytest.param(
        '{"type": "action", "channel": "add", "data": {"a": Infinity, "b": 1}}',
        INVALID_ACTION,
        id="infinity-for-int",
    ),
    pytest.param(
        '{"type": "action", "channel": "add", "id": true}',
        error("Message id must be a string or an integer."),
        id="id-boolean",
    ),
    pytest.param(
        '{"type": "action", "channel": "add", "id": 1.5}',
        error("Message id must be a string or an integer."),
        id="id-float",
    ),
    pytest.param(
        '{"type": "action", "channel": "add", "id": {"n": 1}}',
        error("Message id must be a string or an integer."),
        id="id-object",
    ),
    pytest.param(
        '{"type": "action", "channel": "add", "id": [1]}',
        error("Message id must be a string or an integer."),
        id="id-list",
    ),
]


@pytest.mark.parametrize(("text", "reply"), TEXT_FRAMES)
async def test_bad_text_frames_get_an_error_and_the_connection_stays_open(
    app: SocketAPI, connect: Any, assert_alive: Any, text: str, reply: dict[str, Any]
) -> None:
    async with connect(app) as client:
        await client.send_text(text)
        assert await client.receive_json() == reply
        await assert_alive(client)


BINARY_FRAMES = [
    pytest.param(
        b'{"type": "action", "channel": "add", "data": {"a": 1, "b": 2}}',
        {"type": "action", "channel": "add", "status": "completed", "data": 3},
        id="valid-json",
    ),
    pytest.param(
        '{"type": "action", "channel": "echo", "data": {"value": "caf\u00e9"}}'.encode(),
        {"type": "action", "channel": "echo", "status": "completed", "data": "caf\u00e9"},
        id="utf8-non-ascii",
    ),
    pytest.param(b"\xff\xfe\x00", error("Invalid JSON."), id="invalid-utf8"),
    pytest.param(
        b'{"type": "action", "channel": "echo", "data": {"value": "\xc3"}}',
        error("Invalid JSON."),
        id="invalid-utf8-inside-a-string",
    ),
    pytest.param(
        '{"type": "action", "channel": "add"}'.encode("utf-16"),
        error("Invalid JSON."),
        id="utf16-is-not-utf8",
    ),
    pytest.param(b"[]", error("Message must be a JSON object."), id="binary-json-list"),
    pytest.param(b"", error("Invalid JSON."), id="empty-binary"),
]


@pytest.mark.parametrize(("payload", "reply"), BINARY_FRAMES)
async def test_binary_frames_are_decoded_as_utf8_json(
    app: SocketAPI, connect: Any, assert_alive: Any, payload: bytes, reply: dict[str, Any]
) -> None:
    async with connect(app) as client:
        await client.send_bytes(payload)
        assert await client.receive_json() == reply
        await assert_alive(client)


def size_message(total: int) -> str:
    """A ``size`` action whose JSON text is exactly ``total`` characters (ASCII) long."""
    template = '{"type": "action", "channel": "size", "data": {"text": "%s"}}'
    padding = total - len(template % "")
    return template % ("x" * padding)


async def test_a_message_of_exactly_max_message_size_is_handled(
    app: SocketAPI, connect: Any, assert_alive: Any
) -> None:
    limit = Settings().max_message_size
    message = size_message(limit)
    assert len(message.encode()) == limit
    async with connect(app) as client:
        await client.send_text(message)
        reply = await client.receive_json()
        assert reply == {
            "type": "action",
            "channel": "size",
            "status": "completed",
            "data": limit - len(size_message(0)),
        }
        await assert_alive(client)


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
async def test_a_message_over_max_message_size_closes_the_connection_with_1009(
    app: SocketAPI, connect: Any, binary: bool
) -> None:
    settings = Settings(max_message_size=4096)
    message = size_message(4097)
    async with connect(app, settings=settings) as client:
        await (client.send_bytes(message.encode()) if binary else client.send_text(message))
        closed = await client.wait_closed()
    assert closed.code == 1009


async def test_a_too_big_message_closes_only_its_own_connection(
    app: SocketAPI, serve: Any, assert_alive: Any
) -> None:
    settings = Settings(max_message_size=4096)
    async with (
        serve(app, settings=settings) as server,
        server.connect() as other,
        server.connect() as offender,
    ):
        await offender.send_text(size_message(5000))
        assert (await offender.wait_closed()).code == 1009
        await assert_alive(other)


@pytest.mark.parametrize("depth", [10, 100])
async def test_moderately_nested_data_round_trips(app: SocketAPI, connect: Any, depth: int) -> None:
    value = "[" * depth + "]" * depth
    async with connect(app) as client:
        await client.send_text(
            f'{{"type": "action", "channel": "echo", "data": {{"value": {value}}}}}'
        )
        reply = await client.receive_json()
    assert json.dumps(reply["data"], separators=(",", ":")) == value


@pytest.mark.parametrize("depth", [1_000, 100_000])
async def test_deeply_nested_json_is_refused_with_a_core_error_frame(
    app: SocketAPI, connect: Any, assert_alive: Any, depth: int
) -> None:
    value = "[" * depth + "]" * depth
    async with connect(app) as client:
        await client.send_text(
            f'{{"type": "action", "channel": "echo", "data": {{"value": {value}}}}}'
        )
        reply = await client.receive_json()
        assert set(reply) == {"type", "message"}
        assert reply["type"] == "error"
        await assert_alive(client)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_nan_and_infinity_are_accepted_and_every_reply_is_standard_json(
    app: SocketAPI, connect: Any, assert_alive: Any, constant: str
) -> None:
    def reject(name: str) -> None:
        raise AssertionError(f"the server sent non-standard JSON: {name}")

    async with connect(app) as client:
        await client.send_text(
            f'{{"type": "action", "channel": "describe", "data": {{"value": {constant}}}}}'
        )
        described = json.loads(await client.ws.get_message(), parse_constant=reject)
        await client.send_text(
            f'{{"type": "action", "channel": "echo", "data": {{"value": {constant}}}}}'
        )
        echoed = json.loads(await client.ws.get_message(), parse_constant=reject)
        await assert_alive(client)
    assert described == {
        "type": "action",
        "channel": "describe",
        "status": "completed",
        "data": repr(float(constant)),
    }
    # The result is not None, so ``data`` is sent; JSON has no NaN/Infinity, so it is null.
    assert echoed == {"type": "action", "channel": "echo", "status": "completed", "data": None}


async def test_huge_integers_are_exact(app: SocketAPI, connect: Any, assert_alive: Any) -> None:
    huge = 10**200 + 1
    async with connect(app) as client:
        await client.send_text(
            f'{{"type": "action", "channel": "add", "data": {{"a": {huge}, "b": 1}}}}'
        )
        assert await client.receive_json() == {
            "type": "action",
            "channel": "add",
            "status": "completed",
            "data": huge + 1,
        }
        await assert_alive(client)


async def test_many_bad_frames_in_a_row_leave_the_connection_working(
    app: SocketAPI, connect: Any, assert_alive: Any
) -> None:
    async with connect(app) as client:
        for param in TEXT_FRAMES:
            text, reply = param.values
            await client.send_text(str(text))
            assert await client.receive_json() == reply
        await assert_alive(client)
