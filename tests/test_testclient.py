"""``trio_socketapi.testclient.TestClient``: socketapi's synchronous test client interface.

The tests in the first part are written the way socketapi's testing docs write them (a plain
``def`` test, ``TestClient(app)``, ``with client.websocket_connect("/") as websocket``), with only
the import changed; an async test awaits a channel function in its own trio run while a test
connection listens. The rest pins what a socketapi test would rely on besides.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import pytest
import trio
from trio_websocket import ConnectionRejected

from trio_socketapi import Connection, HandshakeRefused, RequiredOnSubscribe, Router, SocketAPI
from trio_socketapi.testclient import TestClient, WebSocketDisconnect

app = SocketAPI()


@app.action("add_numbers")
async def add_numbers(a: int, b: int) -> int:
    return a + b


@app.channel("chat", default_response=True)
async def chat(message: str = "Welcome") -> dict[str, str]:
    return {"message": message}


router = Router()


@router.channel("room")
async def room(room_id: Annotated[str, RequiredOnSubscribe], text: str = "hello") -> str:
    return text


app.include_router(router)


# --- as socketapi's testing docs write them ---------------------------------------------------


def test_add_numbers() -> None:
    client = TestClient(app)
    with client.websocket_connect("/") as websocket:
        websocket.send_json({"type": "action", "channel": "add_numbers", "data": {"a": 5, "b": 3}})
        response = websocket.receive_json()
        assert response == {
            "type": "action",
            "channel": "add_numbers",
            "status": "completed",
            "data": 8,
        }


def test_chat_subscription() -> None:
    client = TestClient(app)
    with client.websocket_connect("/") as websocket:
        websocket.send_json({"type": "subscribe", "channel": "chat"})
        response = websocket.receive_json()
        assert response["type"] == "subscribed"
        assert response["channel"] == "chat"
        initial_data = websocket.receive_json()
        assert initial_data["type"] == "data"
        assert initial_data["data"] == {"message": "Welcome"}


def test_invalid_parameters() -> None:
    client = TestClient(app)
    with client.websocket_connect("/") as websocket:
        websocket.send_json({"type": "action", "channel": "add_numbers", "data": {"a": 5}})
        response = websocket.receive_json()
        assert response["type"] == "error"
        assert "Invalid parameters" in response["message"]


async def test_broadcast_to_subscribers() -> None:
    client = TestClient(app)
    with client.websocket_connect("/") as websocket:
        websocket.send_json({"type": "subscribe", "channel": "chat"})
        websocket.receive_json()  # subscribed
        websocket.receive_json()  # initial data

        await chat(message="Hello everyone!")

        response = websocket.receive_json()
        assert response == {
            "type": "data",
            "channel": "chat",
            "data": {"message": "Hello everyone!"},
        }


# --- beyond the docs ---------------------------------------------------------------------------


def test_two_connections_see_each_others_broadcasts_and_scoped_delivery() -> None:
    with (
        TestClient(app) as client,
        client.websocket_connect("/") as a,
        client.websocket_connect("/") as b,
    ):
        for websocket, room_id in ((a, "x"), (b, "y")):
            websocket.send_json(
                {"type": "subscribe", "channel": "room", "data": {"room_id": room_id}}
            )
            assert websocket.receive_json() == {"type": "subscribed", "channel": "room"}
            assert websocket.receive_json() == {
                "type": "data",
                "channel": "room",
                "data": "hello",
            }
        trio.run(room, "x", "only x")  # another trio run, in the test's thread
        assert a.receive_json() == {"type": "data", "channel": "room", "data": "only x"}
        b.send_json({"type": "unsubscribe", "channel": "probe"})
        assert b.receive_json()["channel"] == "probe"  # b got nothing before it


def test_text_and_bytes_frames() -> None:
    client = TestClient(app)
    with client.websocket_connect("/") as websocket:
        websocket.send_text("not json")
        assert websocket.receive_text() == '{"type":"error","message":"Invalid JSON."}'
        websocket.send_bytes(b'{"type":"action","channel":"add_numbers","data":{"a":1,"b":1}}')
        assert websocket.receive_bytes() == (
            b'{"type":"action","channel":"add_numbers","status":"completed","data":2}'
        )
        websocket.send_json(
            {"type": "action", "channel": "add_numbers", "data": {"a": 2, "b": 2}}, mode="binary"
        )
        assert websocket.receive_json()["data"] == 4


def test_with_client_runs_the_lifespan_around_the_block() -> None:
    lifespan_app = SocketAPI()
    events: list[str] = []

    @lifespan_app.lifespan
    async def resources() -> AsyncIterator[None]:
        events.append("setup")
        yield
        events.append("teardown")

    @lifespan_app.action("events")
    async def seen() -> list[str]:
        return events

    with TestClient(lifespan_app) as client:
        assert events == ["setup"]
        with client.websocket_connect("/") as websocket:
            websocket.send_json({"type": "action", "channel": "events"})
            assert websocket.receive_json()["data"] == ["setup"]
        with client.websocket_connect("/") as websocket:  # still the same serving
            websocket.send_json({"type": "action", "channel": "events"})
            assert websocket.receive_json()["data"] == ["setup"]
    assert events == ["setup", "teardown"]


def test_a_connection_open_when_the_client_stops_is_closed_with_1001() -> None:
    with TestClient(app) as client, client.websocket_connect("/") as websocket:
        client.__exit__(None, None, None)
        with pytest.raises(WebSocketDisconnect) as closed:
            websocket.receive_json()
        assert closed.value.code == 1001


def test_a_refused_handshake_raises_connection_rejected_and_headers_reach_the_hook() -> None:
    guarded = SocketAPI()

    @guarded.on_handshake
    async def signed_in(connection: Connection) -> None:
        if connection.headers.get("authorization") != "Bearer ok":
            raise HandshakeRefused(401, "Sign in first")

    @guarded.action("ping")
    async def ping() -> str:
        return "pong"

    client = TestClient(guarded)
    with pytest.raises(ConnectionRejected) as refused, client.websocket_connect("/"):
        pass
    assert refused.value.status_code == 401
    with client.websocket_connect("/", headers={"Authorization": "Bearer ok"}) as websocket:
        websocket.send_json({"type": "action", "channel": "ping"})
        assert websocket.receive_json()["data"] == "pong"


def test_waiting_for_a_frame_that_never_comes_times_out() -> None:
    client = TestClient(app, timeout=0.5)
    with client.websocket_connect("/") as websocket, pytest.raises(TimeoutError):
        websocket.receive_json()


def test_a_failing_lifespan_fails_the_with() -> None:
    broken = SocketAPI()

    @broken.lifespan
    async def no_database() -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield

    with pytest.raises(RuntimeError, match="no database"), TestClient(broken):
        pass
