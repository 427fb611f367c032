"""Actions (request / response), PROTOCOL.md "Actions", row for row, through the real server."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pydantic
import pytest
from helpers import completed, error

from trio_socketapi import SocketAPI


class Point(pydantic.BaseModel):
    x: int
    y: int


class Aliased(pydantic.BaseModel):
    user_id: int = pydantic.Field(alias="userId")


MOMENT = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
REF = uuid.UUID("12345678-1234-5678-1234-567812345678")


@pytest.fixture
def app(app: SocketAPI) -> SocketAPI:
    @app.action("add")
    async def add_numbers(a: int, b: int) -> int:
        return a + b

    @app.action("noop")
    async def noop() -> None:
        return None

    @app.action("echo")
    async def echo(value: Any) -> Any:
        return value

    @app.action("greet")
    async def greet(name: str, greeting: str = "hello") -> str:
        return f"{greeting}, {name}"

    @app.action("fail")
    async def fail(message: str) -> None:
        raise RuntimeError(message)

    @app.action("lookup")
    async def lookup() -> None:
        raise KeyError("missing")

    @app.action("point")
    async def point(x: int, y: int) -> Point:
        return Point(x=x, y=y)

    @app.action("points")
    async def points() -> list[Point]:
        return [Point(x=1, y=2), Point(x=3, y=4)]

    @app.action("when")
    async def when() -> datetime.datetime:
        return MOMENT

    @app.action("ref")
    async def ref() -> uuid.UUID:
        return REF

    @app.action("report")
    async def report() -> dict[str, Any]:
        return {"at": MOMENT, "ref": REF, "points": [Point(x=0, y=0)]}

    @app.action("aliased")
    async def aliased() -> Aliased:
        return Aliased(userId=1)

    return app


ACTIONS = [
    pytest.param({"channel": "add", "data": {"a": 1, "b": 2}}, completed("add", 3), id="add"),
    pytest.param(
        {"channel": "add", "data": {"a": "5", "b": 2}}, completed("add", 7), id="coerce-str-to-int"
    ),
    pytest.param({"channel": "noop"}, completed("noop"), id="none-result-has-no-data"),
    pytest.param({"channel": "noop", "data": None}, completed("noop"), id="data-null-is-empty"),
    pytest.param({"channel": "noop", "data": {}}, completed("noop"), id="data-empty"),
    pytest.param(
        {"channel": "noop", "data": {"unexpected": 1}}, completed("noop"), id="extra-keys-ignored"
    ),
    *(
        pytest.param(
            {"channel": "echo", "data": {"value": falsy}},
            completed("echo", falsy),
            id=f"falsy-result-{falsy!r}-is-sent",
        )
        for falsy in (0, "", [], {}, False)
    ),
    pytest.param(
        {"channel": "echo", "data": {"value": None}},
        completed("echo"),
        id="echoed-null-has-no-data",
    ),
    pytest.param({"channel": "nope"}, error("Action 'nope' not found."), id="unknown-action"),
    pytest.param(
        {"channel": "Add", "data": {"a": 1, "b": 2}},
        error("Action 'Add' not found."),
        id="names-are-case-sensitive",
    ),
    pytest.param(
        {"channel": "add", "data": {"a": 1}},
        error("Invalid parameters for action 'add_numbers'"),
        id="missing-parameter-names-function",
    ),
    pytest.param(
        {"channel": "add", "data": {"a": "x", "b": 2}},
        error("Invalid parameters for action 'add_numbers'"),
        id="invalid-parameter",
    ),
    pytest.param(
        {"channel": "add", "data": {"a": 1.5, "b": 2}},
        error("Invalid parameters for action 'add_numbers'"),
        id="fractional-float-for-int",
    ),
    pytest.param(
        {"channel": "add"},
        error("Invalid parameters for action 'add_numbers'"),
        id="data-absent-with-required-parameters",
    ),
    pytest.param(
        {"channel": "greet", "data": {"name": "ann"}},
        completed("greet", "hello, ann"),
        id="default-honoured",
    ),
    pytest.param(
        {"channel": "greet", "data": {"name": "ann", "greeting": "hi"}},
        completed("greet", "hi, ann"),
        id="default-overridden",
    ),
    pytest.param(
        {"channel": "fail", "data": {"message": "boom"}}, error("boom"), id="exception-is-str-exc"
    ),
    pytest.param(
        {"channel": "fail", "data": {"message": ""}}, error(""), id="exception-without-message"
    ),
    pytest.param({"channel": "lookup"}, error("'missing'"), id="key-error-str"),
    pytest.param(
        {"channel": "point", "data": {"x": 1, "y": "2"}},
        completed("point", {"x": 1, "y": 2}),
        id="model",
    ),
    pytest.param(
        {"channel": "points"},
        completed("points", [{"x": 1, "y": 2}, {"x": 3, "y": 4}]),
        id="list-of-models",
    ),
    pytest.param({"channel": "when"}, completed("when", "2024-01-02T03:04:05Z"), id="datetime"),
    pytest.param(
        {"channel": "ref"}, completed("ref", "12345678-1234-5678-1234-567812345678"), id="uuid"
    ),
    pytest.param(
        {"channel": "report"},
        completed(
            "report",
            {
                "at": "2024-01-02T03:04:05Z",
                "ref": "12345678-1234-5678-1234-567812345678",
                "points": [{"x": 0, "y": 0}],
            },
        ),
        id="container-of-models-datetimes-uuids",
    ),
    pytest.param(
        {"channel": "aliased"},
        completed("aliased", {"user_id": 1}),
        id="aliased-model-sent-by-field-name",
    ),
]


@pytest.mark.parametrize(("message", "reply"), ACTIONS)
async def test_action_table(
    app: SocketAPI, connect: Any, message: dict[str, Any], reply: dict[str, Any]
) -> None:
    async with connect(app) as client:
        await client.send_json({"type": "action", **message})
        assert await client.receive_json() == reply


async def test_errors_keep_the_connection_open_for_the_next_action(
    app: SocketAPI, connect: Any
) -> None:
    async with connect(app) as client:
        assert await client.action("fail", {"message": "boom"}) == error("boom")
        assert await client.action("nope") == error("Action 'nope' not found.")
        assert await client.action("add", {"a": 1}) == error(
            "Invalid parameters for action 'add_numbers'"
        )
        assert await client.action("add", {"a": 1, "b": 2}) == completed("add", 3)


async def test_a_result_that_cannot_be_serialised_is_an_error_frame(
    app: SocketAPI, connect: Any, assert_alive: Any
) -> None:
    @app.action("opaque")
    async def opaque() -> object:
        return object()

    async with connect(app) as client:
        reply = await client.action("opaque")
        assert set(reply) == {"type", "message"}
        assert reply["type"] == "error"
        await assert_alive(client)


async def test_the_handler_receives_validated_values(app: SocketAPI, connect: Any) -> None:
    received: list[tuple[Any, ...]] = []

    @app.action("record")
    async def record(n: int, when: datetime.datetime, point: Point) -> None:
        received.append((n, when, point))

    async with connect(app) as client:
        reply = await client.action(
            "record", {"n": "5", "when": "2024-01-02T03:04:05Z", "point": {"x": 1, "y": 2}}
        )
    assert reply == completed("record")
    assert received == [(5, MOMENT, Point(x=1, y=2))]


async def test_calling_an_action_directly_is_plain_python(app: SocketAPI) -> None:
    @app.action("double")
    async def double(n: int) -> int:
        return n * 2

    assert await double(4) == 8
    assert double.__name__ == "double"
