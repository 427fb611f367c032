"""socketapi's Routers documentation app, served as written (only the import renamed).

``tests/routers_docs_app`` holds the page's files: ``main.py`` and its three routers, plus the
two routers of its "Cross-Router Communication" section, which a reader includes in the same
app. Every channel and action is driven here by a client that never sends an ``id``, so every
frame is compared whole: exactly socketapi's frames, with no extra key.

The app's modules are named ``main`` and ``routers`` like the example app's, so each test
imports them afresh and puts the example's modules back afterwards.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import trio

from trio_socketapi.testing import TestServer, open_test_server

DOCS_APP_DIR = Path(__file__).resolve().parent / "routers_docs_app"
TIMEOUT = 10.0


def _is_app_module(name: str) -> bool:
    return name in ("main", "routers") or name.startswith("routers.")


@pytest.fixture
def docs_main(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The docs' ``main`` module, with the cross-router routers included in its app."""
    for name in [n for n in sys.modules if _is_app_module(n)]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(DOCS_APP_DIR))
    main = importlib.import_module("main")
    assert Path(main.__file__).parent == DOCS_APP_DIR
    analytics = importlib.import_module("routers.analytics")
    orders = importlib.import_module("routers.orders")
    main.app.include_router(analytics.router)
    main.app.include_router(orders.router)
    yield main
    for name in [n for n in sys.modules if _is_app_module(n)]:
        del sys.modules[name]  # monkeypatch then restores the example app's modules


@pytest.fixture
async def server(docs_main: ModuleType) -> AsyncIterator[TestServer]:
    with trio.fail_after(TIMEOUT):
        async with open_test_server(docs_main.app) as server:
            yield server


def subscribed(channel: str) -> dict[str, Any]:
    return {"type": "subscribed", "channel": channel}


def data(channel: str, value: Any) -> dict[str, Any]:
    return {"type": "data", "channel": channel, "data": value}


def completed(channel: str, value: Any) -> dict[str, Any]:
    return {"type": "action", "channel": channel, "status": "completed", "data": value}


async def test_every_channel_and_action_of_the_docs_is_served(docs_main: ModuleType) -> None:
    assert set(docs_main.app._registry.channels) == {
        "user_status",
        "chat_room",
        "notifications",
        "analytics",
    }
    assert set(docs_main.app._registry.actions) == {
        "get_user",
        "update_status",
        "send_message",
        "get_history",
        "notify_user",
        "create_order",
    }


async def test_a_dashboard_subscribed_to_analytics_receives_the_create_order_event(
    server: TestServer,
) -> None:
    async with server.connect() as dashboard, server.connect() as shop:
        assert await dashboard.subscribe("analytics") == subscribed("analytics")

        reply = await shop.action("create_order", {"product_id": 7, "quantity": 2})

        assert reply == completed("create_order", {"order_id": 12345, "status": "created"})
        assert await dashboard.receive_json() == data(
            "analytics",
            {
                "event": "order_created",
                "data": {"order_id": 12345, "product_id": 7, "quantity": 2},
            },
        )


async def test_user_status_can_be_subscribed_with_or_without_a_user_id(
    server: TestServer,
) -> None:
    async with server.connect() as everyone, server.connect() as one, server.connect() as admin:
        assert await everyone.subscribe("user_status") == subscribed("user_status")
        assert await one.subscribe("user_status", {"user_id": 1}) == subscribed("user_status")
        assert await one.receive_json() == data("user_status", {"user_id": 1, "status": "online"})

        reply = await admin.action("update_status", {"user_id": 2, "status": "away"})

        assert reply == completed("update_status", {"success": True})
        for watcher in (everyone, one):
            assert await watcher.receive_json() == data(
                "user_status", {"user_id": 2, "status": "away"}
            )


async def test_get_user_returns_the_model(server: TestServer) -> None:
    async with server.connect() as client:
        assert await client.action("get_user", {"user_id": 5}) == completed(
            "get_user", {"id": 5, "username": "john_doe", "email": "john@example.com"}
        )


async def test_chat_room_welcomes_and_send_message_reaches_that_room_only(
    server: TestServer,
) -> None:
    async with server.connect() as lobby, server.connect() as kitchen, server.connect() as sender:
        for client, room in ((lobby, "lobby"), (kitchen, "kitchen")):
            assert await client.subscribe("chat_room", {"room_id": room}) == subscribed("chat_room")
            assert await client.receive_json() == data(
                "chat_room", {"room": room, "text": "Welcome to the chat room!"}
            )
        message = {"user": "ada", "text": "hello", "room": "lobby"}

        assert await sender.action("send_message", {"message": message}) == completed(
            "send_message", {"sent": True}
        )

        assert await lobby.receive_json() == data("chat_room", message)
        # The kitchen got nothing: its next frame answers its next request.
        assert await kitchen.action("get_history", {"room_id": "kitchen"}) == completed(
            "get_history", {"room": "kitchen", "messages": []}
        )


async def test_notify_user_reaches_that_users_subscription_and_subscribe_sends_nothing(
    server: TestServer,
) -> None:
    async with server.connect() as ada, server.connect() as grace, server.connect() as admin:
        for client, user_id in ((ada, 1), (grace, 2)):
            reply = await client.subscribe("notifications", {"user_id": user_id})
            assert reply == subscribed("notifications")

        reply = await admin.action("notify_user", {"user_id": 2, "message": "hi"})

        assert reply == completed("notify_user", {"notified": True})
        assert await grace.receive_json() == data(
            "notifications", {"user_id": 2, "type": "info", "count": 0}
        )
        # Ada got nothing (neither a default response nor Grace's notification).
        assert await ada.action("get_history", {"room_id": "x"}) == completed(
            "get_history", {"room": "x", "messages": []}
        )
