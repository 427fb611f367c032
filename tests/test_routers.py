"""Routers, PROTOCOL.md "Routers": nothing changes on the wire, one name is one handler."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import completed, subscribed

from trio_socketapi import Router, SocketAPI

PONG = {"type": "action", "channel": "ping", "status": "completed", "data": "pong"}


async def test_router_handlers_are_addressed_by_their_plain_names(
    app: SocketAPI, connect: Any
) -> None:
    router = Router()

    @router.action("get_user")
    async def get_user(user_id: int) -> dict[str, int]:
        return {"id": user_id}

    @router.channel("user_status", default_response=False)
    async def user_status(user_id: int = 0) -> int:
        return user_id

    app.include_router(router)
    async with connect(app) as client:
        assert await client.action("get_user", {"user_id": "3"}) == completed("get_user", {"id": 3})
        assert await client.subscribe("user_status") == subscribed("user_status")
        assert await user_status(user_id=4) == 4
        assert await client.receive_json() == {"type": "data", "channel": "user_status", "data": 4}


async def test_errors_from_router_handlers_are_the_core_errors(
    app: SocketAPI, connect: Any
) -> None:
    router = Router()

    @router.action("divide")
    async def divide_numbers(a: int, b: int) -> float:
        return a / b

    app.include_router(router)
    async with connect(app) as client:
        assert await client.action("divide", {"a": 1}) == {
            "type": "error",
            "message": "Invalid parameters for action 'divide_numbers'",
        }
        assert await client.action("divide", {"a": 1, "b": 0}) == {
            "type": "error",
            "message": "division by zero",
        }


async def test_router_functions_work_before_include_router(app: SocketAPI) -> None:
    router = Router()

    @router.action("double")
    async def double(n: int) -> int:
        return n * 2

    @router.channel("feed")
    async def feed(text: str) -> str:
        return text.upper()

    assert await double(2) == 4
    assert await feed(text="not broadcast yet") == "NOT BROADCAST YET"


async def test_router_channel_broadcasts_once_included(app: SocketAPI, connect: Any) -> None:
    router = Router()

    @router.channel("feed", default_response=False)
    async def feed(text: str = "") -> str:
        return text

    assert await feed(text="before") == "before"
    app.include_router(router)
    async with connect(app) as client:
        assert await client.subscribe("feed") == subscribed("feed")
        assert await feed(text="after") == "after"
        assert await client.receive_json() == {"type": "data", "channel": "feed", "data": "after"}


async def test_a_channel_of_one_router_broadcast_from_an_action_of_another(
    app: SocketAPI, serve: Any
) -> None:
    analytics_router = Router()
    orders_router = Router()

    @analytics_router.channel("analytics", default_response=False)
    async def analytics(event: str = "", data: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"event": event, "data": data}

    @orders_router.action("create_order")
    async def create_order(product_id: int, quantity: int) -> dict[str, int]:
        await analytics(event="order_created", data={"product_id": product_id})
        return {"product_id": product_id, "quantity": quantity}

    app.include_router(orders_router)
    app.include_router(analytics_router)
    async with serve(app) as server, server.connect() as watcher, server.connect() as buyer:
        assert await watcher.subscribe("analytics") == subscribed("analytics")
        reply = await buyer.action("create_order", {"product_id": 5, "quantity": 2})
        assert reply == completed("create_order", {"product_id": 5, "quantity": 2})
        assert await watcher.receive_json() == {
            "type": "data",
            "channel": "analytics",
            "data": {"event": "order_created", "data": {"product_id": 5}},
        }


async def test_nested_routers_serve_every_handler_under_its_plain_name(
    app: SocketAPI, connect: Any
) -> None:
    inner = Router()
    middle = Router()
    outer = Router()

    @inner.action("deep")
    async def deep() -> str:
        return "inner"

    @inner.channel("deep_feed", default_response=False)
    async def deep_feed(n: int = 0) -> int:
        return n

    @middle.action("mid")
    async def mid() -> str:
        return "middle"

    middle.include_router(inner)
    outer.include_router(middle)
    app.include_router(outer)
    async with connect(app) as client:
        assert await client.action("deep") == completed("deep", "inner")
        assert await client.action("mid") == completed("mid", "middle")
        assert await client.subscribe("deep_feed") == subscribed("deep_feed")
        await deep_feed(n=1)
        assert await client.receive_json() == {"type": "data", "channel": "deep_feed", "data": 1}


def test_duplicate_action_names_on_an_app_raise_at_decoration() -> None:
    app = SocketAPI()

    @app.action("same")
    async def first() -> None: ...

    with pytest.raises(ValueError, match="same"):

        @app.action("same")
        async def second() -> None: ...


def test_duplicate_channel_names_on_an_app_raise_at_decoration() -> None:
    app = SocketAPI()

    @app.channel("same")
    async def first() -> None: ...

    with pytest.raises(ValueError, match="same"):

        @app.channel("same")
        async def second() -> None: ...


@pytest.mark.parametrize("kind", ["action", "channel"])
def test_duplicate_names_on_a_router_raise_at_decoration(kind: str) -> None:
    router = Router()
    decorate = getattr(router, kind)

    @decorate("same")
    async def first() -> None: ...

    with pytest.raises(ValueError, match="same"):

        @decorate("same")
        async def second() -> None: ...


@pytest.mark.parametrize("kind", ["action", "channel"])
def test_include_router_refuses_a_name_the_app_already_has(kind: str) -> None:
    app = SocketAPI()
    router = Router()

    @getattr(app, kind)("same")
    async def on_app() -> None: ...

    @router.action("other")
    async def other() -> None: ...

    @getattr(router, kind)("same")
    async def on_router() -> None: ...

    with pytest.raises(ValueError, match="same"):
        app.include_router(router)
    assert "other" not in app._registry.actions, "a refused router adds nothing"


def test_include_router_refuses_a_clash_between_two_routers() -> None:
    app = SocketAPI()
    first = Router()
    second = Router()

    @first.channel("news")
    async def news_one() -> None: ...

    @second.channel("news")
    async def news_two() -> None: ...

    app.include_router(first)
    with pytest.raises(ValueError, match="news"):
        app.include_router(second)
    assert app._registry.channels["news"] is news_one


def test_nested_include_router_refuses_a_clash() -> None:
    parent = Router()
    child = Router()

    @parent.action("same")
    async def on_parent() -> None: ...

    @child.action("same")
    async def on_child() -> None: ...

    with pytest.raises(ValueError, match="same"):
        parent.include_router(child)


def test_channel_and_action_names_are_separate_namespaces() -> None:
    app = SocketAPI()
    router = Router()

    @app.channel("status")
    async def status_channel() -> None: ...

    @router.action("status")
    async def status_action() -> None: ...

    app.include_router(router)
    assert app._registry.channels["status"] is status_channel
    assert app._registry.actions["status"] is status_action


def test_including_the_same_router_twice_is_not_a_clash() -> None:
    app = SocketAPI()
    router = Router()

    @router.action("once")
    async def once() -> None: ...

    app.include_router(router)
    app.include_router(router)
    assert app._registry.actions["once"] is once


async def test_one_router_included_in_two_apps_broadcasts_to_both(serve: Any) -> None:
    router = Router()

    @router.channel("shared", default_response=False)
    async def shared(n: int = 0) -> int:
        return n

    first, second = SocketAPI(), SocketAPI()
    first.include_router(router)
    second.include_router(router)
    async with (
        serve(first) as server_one,
        serve(second) as server_two,
        server_one.connect() as one,
        server_two.connect() as two,
    ):
        for client in (one, two):
            assert await client.subscribe("shared") == subscribed("shared")
        assert await shared(n=9) == 9
        for client in (one, two):
            assert await client.receive_json() == {"type": "data", "channel": "shared", "data": 9}
