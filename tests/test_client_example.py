"""The Python client driving the example app (examples/my_app): every action and channel.

In memory under ``autojump_clock`` (``connector=server.open_stream``), as a user would test their
own app and client code together; and once over loopback TCP, where the server is stopped and
started again on the same port and the client reconnects and resubscribes by itself.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import trio

import trio_socketapi
from trio_socketapi.client import ActionError, Client, Reconnect
from trio_socketapi.testing import open_test_server

EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "examples" / "my_app"
if str(EXAMPLE_DIR) not in sys.path:
    sys.path.insert(0, str(EXAMPLE_DIR))
main = importlib.import_module("main")
users = importlib.import_module("routers.users")
chat = importlib.import_module("routers.chat")
orders = importlib.import_module("routers.orders")
notifications = importlib.import_module("routers.notifications")


@pytest.fixture(autouse=True)
def fresh_example_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "USERS", dict(users.USERS))
    monkeypatch.setattr(chat, "HISTORY", type(chat.HISTORY)(chat.HISTORY.default_factory))
    monkeypatch.setattr(orders, "ORDERS", {})


@asynccontextmanager
async def signed_in(token: str = "ada-token") -> AsyncIterator[Client]:
    async with (
        open_test_server(main.app) as server,
        trio_socketapi.connect(
            f"ws://127.0.0.1:8000/?token={token}", connector=server.open_stream
        ) as client,
    ):
        yield client


@pytest.mark.bound(10)
async def test_users_and_presence(autojump_clock: Any) -> None:
    async with signed_in() as client, client.subscribe(users.user_status) as presence:
        grace = await client.action(users.get_user, user_id=2)
        assert grace == users.User(id=2, name="Grace", status="away")
        me = await client.action("update_my_status", status="away")  # Ada, by her token
        assert me == {"id": 1, "name": "Ada", "status": "away"}
        assert await presence.receive() == users.UserStatus(user_id=1, status="away")
        linus = await client.action(users.update_status, user_id=3, status="online")
        assert linus.status == "online"
        assert await presence.receive() == users.UserStatus(user_id=3, status="online")
        with pytest.raises(ActionError, match="User 9 not found"):
            await client.action(users.get_user, user_id=9)


@pytest.mark.bound(10)
async def test_chat_rooms_history_and_notifications(autojump_clock: Any) -> None:
    async with (
        signed_in() as client,
        client.subscribe(chat.chat_room, room_id="a") as room_a,
        client.subscribe("chat_room", room_id="b") as room_b,
        client.subscribe("notifications", user_id=1) as mine,
    ):
        assert (await room_a.receive()) == {"room": "a", "text": "Welcome to room a!"}
        assert (await room_b.receive())["text"] == "Welcome to room b!"
        message = chat.Message(room="a", user="ada", text="hello a")
        sent = await client.action(chat.send_message, message=message)
        assert sent.text == "hello a"
        # chat_room returns ``Message | dict[str, str]``: pydantic's smart union decides which.
        assert chat.Message.model_validate(await room_a.receive()) == sent
        await client.action("send_message", message={"room": "b", "user": "ada", "text": "b!"})
        assert (await room_b.receive())["text"] == "b!"
        history = await client.action(chat.get_history, room_id="a")
        assert [m.text for m in history] == ["hello a"]
        assert await client.action("notify_user", user_id=1, message="hi") is None
        note = await mine.receive()
        assert (note["user_id"], note["message"], note["notification_type"]) == (1, "hi", "info")


@pytest.mark.bound(10)
async def test_orders_feed_analytics_and_the_clock_ticks(autojump_clock: Any) -> None:
    async with (
        signed_in() as client,
        client.subscribe("analytics") as analytics,
        client.subscribe("clock") as clock,
    ):
        first = datetime.fromisoformat(await clock.receive())  # the default response
        order = await client.action(orders.create_order, product_id=2, quantity=3)
        assert order.total_cents == 900
        event = await analytics.receive()
        assert event["event"] == "order_created"
        assert event["data"]["order_id"] == str(order.id)
        assert datetime.fromisoformat(await clock.receive()) >= first  # a tick, a second later
        with pytest.raises(ActionError, match="Product 7 not found"):
            await client.action("create_order", product_id=7, quantity=1)


@pytest.mark.bound(10)
async def test_signing_in_is_needed_to_update_a_status(autojump_clock: Any) -> None:
    async with signed_in(token="nobody") as client:
        with pytest.raises(ActionError, match="Sign in first"):
            await client.action("update_my_status", status="online")


@pytest.mark.bound(30)
async def test_over_loopback_it_reconnects_and_resubscribes_after_a_server_restart() -> None:
    app = main.app
    reconnected = trio.Event()
    async with trio.open_nursery() as nursery:
        serving = trio.CancelScope()

        async def run(port: int, *, task_status: trio.TaskStatus[int]) -> None:
            with serving:
                await app.serve("127.0.0.1", port, task_status=task_status)

        port = await nursery.start(run, 0)
        url = f"ws://127.0.0.1:{port}/?token=grace-token"
        policy = Reconnect(initial_delay=0.05, max_delay=0.2, max_attempts=50)
        async with (
            trio_socketapi.connect(
                url, reconnect=policy, on_reconnect=lambda _: reconnected.set()
            ) as client,
            client.subscribe("chat_room", room_id="r") as room,
        ):
            assert (await room.receive())["text"] == "Welcome to room r!"
            serving.cancel()  # the server stops: the client gets 1001
            await trio.sleep(0.3)  # a few attempts find nothing listening
            serving = trio.CancelScope()
            await nursery.start(run, port)
            await reconnected.wait()
            assert (await room.receive())["text"] == "Welcome to room r!"  # resubscribed
            message = {"room": "r", "user": "grace", "text": "back"}
            await client.action("send_message", message=message)
            assert (await room.receive())["text"] == "back"
            assert client.reconnects == 1
        serving.cancel()


async def test_typed_calls_fill_in_a_dynamic_path(autojump_clock: Any) -> None:
    async with (
        signed_in() as client,
        client.subscribe(chat.typing, room_id="general") as typing,
        client.subscribe("typing/other") as other,
    ):
        assert typing.channel == "typing/general"
        await client.action(chat.start_typing, room_id="general", user="ada")
        assert await typing.receive() == {"room": "general", "user": "ada"}
        await client.action("rooms/other/typing", user="grace")
        assert await other.receive() == {"room": "other", "user": "grace"}
