"""A parameter annotated ``Connection`` receives the client's connection, not client data.

It carries the handshake (path, query string, headers with lower-cased names, remote address)
and a ``state`` dict that lives as long as the connection; dependencies may take it too.
"""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from helpers import completed, error

from trio_socketapi import Connection, Depends, RequiredOnSubscribe, SocketAPI

PONG = {"type": "action", "channel": "ping", "status": "completed", "data": "pong"}


async def current_user(conn: Connection) -> str:
    """Authenticate from the handshake's ``token`` query parameter, once per connection."""
    if "user" not in conn.state:
        token = conn.query_params.get("token")
        if token is None:
            raise PermissionError("no token")
        conn.state["user"] = f"user-{token}"
    return str(conn.state["user"])


@pytest.fixture
def app(app: SocketAPI) -> SocketAPI:
    @app.action("handshake")
    async def handshake(conn: Connection) -> dict[str, Any]:
        return {
            "path": conn.path,
            "query_string": conn.query_string,
            "query_params": conn.query_params,
            "remote": list(conn.remote) if conn.remote else None,
        }

    @app.action("header")
    async def header(name: str, conn: Connection) -> str | None:
        return conn.headers.get(name)

    @app.action("header_names")
    async def header_names(conn: Connection) -> list[str]:
        return list(conn.headers)

    @app.action("count")
    async def count(conn: Connection) -> int:
        conn.state["count"] = conn.state.get("count", 0) + 1
        return int(conn.state["count"])

    @app.action("me")
    async def me(user: Annotated[str, Depends(current_user)]) -> str:
        return user

    return app


async def test_the_handler_sees_the_handshake_path_and_query(app: SocketAPI, connect: Any) -> None:
    async with connect(app, "/api/v1?token=x&room=a%20b&empty=") as client:
        reply = await client.action("handshake")
    assert reply == completed(
        "handshake",
        {
            "path": "/api/v1",
            "query_string": "token=x&room=a%20b&empty=",
            "query_params": {"token": "x", "room": "a b", "empty": ""},
            "remote": ["127.0.0.1", 50000],
        },
    )


async def test_a_plain_path_has_an_empty_query(app: SocketAPI, connect: Any) -> None:
    async with connect(app) as client:
        reply = await client.action("handshake")
    assert reply["data"]["path"] == "/"
    assert (reply["data"]["query_string"], reply["data"]["query_params"]) == ("", {})


async def test_header_names_are_lower_cased_and_looked_up_in_any_case(
    app: SocketAPI, connect: Any
) -> None:
    async with connect(app, headers={"X-Api-Key": "Secret-Value"}) as client:
        for name in ("x-api-key", "X-Api-Key", "X-API-KEY"):
            assert await client.action("header", {"name": name}) == completed(
                "header", "Secret-Value"
            )
        names = await client.action("header_names")
        assert "x-api-key" in names["data"] and "X-Api-Key" not in names["data"]


async def test_the_remote_address_is_the_peer_the_server_sees(app: SocketAPI, serve: Any) -> None:
    async with serve(app) as server:
        async with server.connect(remote=("10.1.2.3", 4567)) as client:
            assert (await client.action("handshake"))["data"]["remote"] == ["10.1.2.3", 4567]
        async with server.connect(remote=None) as client:
            assert (await client.action("handshake"))["data"]["remote"] is None


async def test_state_persists_across_messages_of_one_connection_only(
    app: SocketAPI, serve: Any
) -> None:
    async with serve(app) as server, server.connect() as first, server.connect() as second:
        assert await first.action("count") == completed("count", 1)
        assert await first.action("count") == completed("count", 2)
        assert await second.action("count") == completed("count", 1)
        assert await first.action("count") == completed("count", 3)


async def test_client_data_cannot_replace_the_connection(app: SocketAPI, connect: Any) -> None:
    async with connect(app, "/real") as client:
        reply = await client.action("handshake", {"conn": {"path": "/forged"}})
    assert reply["data"]["path"] == "/real"


async def test_a_dependency_authenticates_from_the_handshake(app: SocketAPI, serve: Any) -> None:
    async with serve(app) as server:
        async with server.connect("/?token=42") as client:
            assert await client.action("me") == completed("me", "user-42")
        async with server.connect("/") as client:
            assert await client.action("me") == error("no token")
            assert await client.action("ping") == PONG


async def test_a_dependency_can_keep_what_it_learned_in_state(app: SocketAPI, connect: Any) -> None:
    @app.action("whoami")
    async def whoami(conn: Connection) -> str | None:
        return conn.state.get("user")

    async with connect(app, "/?token=7") as client:
        assert await client.action("whoami") == {
            "type": "action",
            "channel": "whoami",
            "status": "completed",
        }
        assert await client.action("me") == completed("me", "user-7")
        assert await client.action("whoami") == completed("whoami", "user-7")


async def test_a_channel_function_receives_the_connection_on_subscribe(
    app: SocketAPI, connect: Any
) -> None:
    seen: list[tuple[str, int]] = []

    @app.channel("presence", default_response=True)
    async def presence(room: Annotated[int, RequiredOnSubscribe], conn: Connection) -> str:
        seen.append((conn.path, room))
        return f"joined {room}"

    async with connect(app, "/lobby") as client:
        assert await client.subscribe("presence", {"room": "5"}) == {
            "type": "subscribed",
            "channel": "presence",
        }
        assert await client.receive_json() == {
            "type": "data",
            "channel": "presence",
            "data": "joined 5",
        }
    assert seen == [("/lobby", 5)]
