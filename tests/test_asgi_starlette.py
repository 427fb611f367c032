"""A ``SocketAPI`` mounted in a Starlette app next to its HTTP routes, served by hypercorn's
trio worker: ``Mount("/ws", app=socket_app)`` with ``lifespan=socket_app.asgi_lifespan``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from test_asgi import (
    TIMEOUT,
    client,
    client_of_stopping_server,
    hypercorn,
    make_app,
    receive,
    request,
)
from trio_websocket import ConnectionClosed, ConnectionRejected

from trio_socketapi import Connection


async def test_a_mounted_app_serves_the_protocol_next_to_http_routes() -> None:
    socket_app = make_app()
    seen_paths: list[str] = []
    events: list[str] = []

    @socket_app.on_handshake
    async def remember(connection: Connection) -> None:
        seen_paths.append(connection.path)

    @socket_app.lifespan
    async def resources() -> AsyncIterator[None]:
        events.append("setup")
        yield
        events.append("teardown")

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("home")

    web = Starlette(
        routes=[Route("/", home), Mount("/ws", app=socket_app)],
        lifespan=socket_app.asgi_lifespan,
    )
    with trio.fail_after(TIMEOUT):
        async with hypercorn(web) as port:
            assert events == ["setup"]
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            response = b""
            while chunk := await stream.receive_some():
                response += chunk
            await stream.aclose()
            assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"home")
            async with client(port, "/ws/") as a, client(port, "/ws/") as b:
                assert await request(a, {"type": "action", "channel": "add", "data": {"a": 2}}) == {
                    "type": "action",
                    "channel": "add",
                    "status": "completed",
                    "data": 2,
                }
                for ws in (a, b):
                    await request(
                        ws, {"type": "subscribe", "channel": "room", "data": {"room_id": "x"}}
                    )
                    await receive(ws)
                say: dict[str, Any] = {"room_id": "x", "text": "hi"}
                await a.send_message(json.dumps({"type": "action", "channel": "say", "data": say}))
                for ws in (a, b):
                    assert await receive(ws) == {"type": "data", "channel": "room", "data": "hi"}
    assert seen_paths == ["/", "/"]  # the path inside the mount
    assert events == ["setup", "teardown"]


async def test_allowed_paths_are_relative_to_the_mount() -> None:
    socket_app = make_app(allowed_paths=("/chat",))
    web = Starlette(routes=[Mount("/ws", app=socket_app)], lifespan=socket_app.asgi_lifespan)
    with trio.fail_after(TIMEOUT):
        async with hypercorn(web) as port:
            async with client(port, "/ws/chat") as ws:
                reply = await request(ws, {"type": "action", "channel": "add", "data": {"a": 1}})
                assert reply["data"] == 1
            with pytest.raises(ConnectionRejected) as refused:
                async with client(port, "/ws/other"):
                    pass
            assert refused.value.status_code == 404


async def test_a_mounted_app_closes_its_clients_with_1001_when_the_server_stops() -> None:
    socket_app = make_app()
    web = Starlette(routes=[Mount("/ws", app=socket_app)], lifespan=socket_app.asgi_lifespan)
    with trio.fail_after(TIMEOUT):
        async with client_of_stopping_server(web, "/ws/") as (ws, stop):
            stop.set()
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await ws.get_message()
    assert closed.value.reason.code == 1001
    assert socket_app.counters.connections_open == 0
