"""Dependencies, PROTOCOL.md "Dependencies": ``Annotated[T, Depends(fn)]``.

The client nests ``fn``'s own parameters under the parameter's name, recursively; the handler
receives ``fn``'s return value. Validation errors name the function whose parameters failed.
"""

from __future__ import annotations

from typing import Annotated, Any

import pydantic
import pytest
from helpers import completed, error

from trio_socketapi import Depends, RequiredOnSubscribe, SocketAPI

PONG = {"type": "action", "channel": "ping", "status": "completed", "data": "pong"}


class User(pydantic.BaseModel):
    id: int
    name: str


async def load_user(user_id: int, name: str = "anon") -> User:
    return User(id=user_id, name=name)


def page_bounds(page: int = 1, size: int = 10) -> tuple[int, int]:
    """A sync dependency."""
    return ((page - 1) * size, page * size)


async def tenant(code: str) -> str:
    return code.upper()


async def account(number: int, owner_tenant: Annotated[str, Depends(tenant)]) -> dict[str, Any]:
    return {"number": number, "tenant": owner_tenant}


async def failing_dependency() -> None:
    raise PermissionError("token expired")


async def user_key(user_id: int) -> int:
    return user_id


async def check_token(token: str) -> str:
    if token != "good":
        raise PermissionError("bad token")
    return token


@pytest.fixture
def app(app: SocketAPI) -> SocketAPI:
    @app.action("whoami")
    async def whoami(user: Annotated[User, Depends(load_user)], greeting: str = "hi") -> str:
        return f"{greeting} {user.name} #{user.id}"

    @app.action("listing")
    async def listing(bounds: Annotated[tuple[int, int], Depends(page_bounds)]) -> list[int]:
        return list(bounds)

    @app.action("balance")
    async def balance(acct: Annotated[dict[str, Any], Depends(account)]) -> dict[str, Any]:
        return acct

    @app.action("guarded")
    async def guarded(check: Annotated[None, Depends(failing_dependency)]) -> str:
        return "unreachable"

    return app


DEPENDENCY_ACTIONS = [
    pytest.param(
        "whoami",
        {"user": {"user_id": 7, "name": "ann"}},
        completed("whoami", "hi ann #7"),
        id="nested-data",
    ),
    pytest.param(
        "whoami",
        {"user": {"user_id": "7"}, "greeting": "hello"},
        completed("whoami", "hello anon #7"),
        id="coerced-with-defaults",
    ),
    pytest.param(
        "whoami",
        {"user": {"user_id": "x"}},
        error("Invalid parameters for action 'load_user'"),
        id="invalid-names-the-dependency",
    ),
    pytest.param(
        "whoami",
        {},
        error("Invalid parameters for action 'load_user'"),
        id="missing-nested-data-names-the-dependency",
    ),
    pytest.param(
        "whoami",
        {"user": [7]},
        error("Invalid parameters for action 'load_user'"),
        id="nested-data-not-an-object",
    ),
    pytest.param(
        "whoami",
        {"user": {"user_id": 7}, "greeting": 5},
        error("Invalid parameters for action 'whoami'"),
        id="handler-own-parameter-invalid",
    ),
    pytest.param("listing", None, completed("listing", [0, 10]), id="sync-with-defaults"),
    pytest.param(
        "listing",
        {"bounds": {"page": "3", "size": 5}},
        completed("listing", [10, 15]),
        id="sync-with-data",
    ),
    pytest.param(
        "balance",
        {"acct": {"number": 12, "owner_tenant": {"code": "acme"}}},
        completed("balance", {"number": 12, "tenant": "ACME"}),
        id="recursive",
    ),
    pytest.param(
        "balance",
        {"acct": {"number": 12, "owner_tenant": {}}},
        error("Invalid parameters for action 'tenant'"),
        id="recursive-invalid-names-the-innermost",
    ),
    pytest.param(
        "balance",
        {"acct": {"number": "x", "owner_tenant": {"code": "acme"}}},
        error("Invalid parameters for action 'account'"),
        id="recursive-invalid-names-the-middle",
    ),
    pytest.param("guarded", None, error("token expired"), id="dependency-raises"),
]


@pytest.mark.parametrize(("channel", "payload", "reply"), DEPENDENCY_ACTIONS)
async def test_dependency_table(
    app: SocketAPI,
    connect: Any,
    channel: str,
    payload: Any,
    reply: dict[str, Any],
) -> None:
    async with connect(app) as client:
        assert await client.action(channel, payload) == reply
        assert await client.action("ping") == PONG


async def test_a_failing_dependency_stops_the_handler(app: SocketAPI, connect: Any) -> None:
    ran: list[str] = []

    @app.action("secret")
    async def secret(auth: Annotated[str, Depends(check_token)]) -> str:
        ran.append(auth)
        return "the secret"

    async with connect(app) as client:
        assert await client.action("secret", {"auth": {"token": "bad"}}) == error("bad token")
        assert await client.action("secret", {"auth": {"token": "good"}}) == completed(
            "secret", "the secret"
        )
    assert ran == ["good"]


async def test_depends_with_required_on_subscribe_on_a_channel(
    app: SocketAPI, connect: Any
) -> None:
    seen: list[User] = []

    @app.channel("inbox", default_response=True)
    async def inbox(
        user: Annotated[User, Depends(load_user), RequiredOnSubscribe],
        text: str = "welcome",
    ) -> str:
        seen.append(user)
        return f"{text}, {user.name}"

    async with connect(app) as client:
        reply = await client.subscribe("inbox", {"user": {"user_id": "3", "name": "bo"}})
        assert reply == {"type": "subscribed", "channel": "inbox"}
        default = await client.receive_json()
        assert (default["type"], default["channel"], default["data"]) == (
            "data",
            "inbox",
            "welcome, bo",
        )
        assert await client.subscribe("inbox", {"user": {"name": "no id"}}) == error(
            "Invalid parameters for action 'load_user'"
        )
    assert seen == [User(id=3, name="bo")]


async def test_a_depends_required_on_subscribe_value_scopes_delivery_like_any_key(
    app: SocketAPI, serve: Any
) -> None:
    @app.channel("alerts")
    async def alerts(user: Annotated[int, Depends(user_key), RequiredOnSubscribe] = 0) -> str:
        return f"for {user}"

    async with serve(app) as server, server.connect() as seven, server.connect() as eight:
        for client, user_id in ((seven, 7), (eight, 8)):
            reply = await client.subscribe("alerts", {"user": {"user_id": user_id}})
            assert reply == {"type": "subscribed", "channel": "alerts"}
        await alerts(user=8)
        await alerts(user=7)
        first = await seven.receive_json()
        assert (first["type"], first["data"]) == ("data", "for 7")
