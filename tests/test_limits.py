"""Limits and policies: subscriptions per connection, slow consumers, error exposure."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from trio_socketapi import ClientError, Settings, SocketAPI
from trio_socketapi._broker import Broadcast
from trio_socketapi.testing import open_test_server

ADD = {"type": "action", "channel": "add", "data": {"a": 1, "b": 2}}
ADDED = {"type": "action", "channel": "add", "status": "completed", "data": 3}


def make_app(settings: Settings | None = None) -> SocketAPI:
    app = SocketAPI(settings=settings)

    @app.action("add")
    async def add(a: int, b: int) -> int:
        return a + b

    @app.channel("ticker")
    async def ticker(value: int = 0) -> int:
        return value

    @app.channel("other")
    async def other() -> None:
        return None

    @app.action("boom")
    async def boom() -> None:
        raise KeyError("secret table name")

    @app.action("refuse")
    async def refuse() -> None:
        raise ClientError("Not your order.")

    return app


@pytest.mark.bound(10)
async def test_one_subscription_past_the_limit_is_refused_and_the_rest_keep_working(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = make_app(Settings(max_subscriptions=1))
    async with open_test_server(app) as server, server.connect() as client:
        assert await client.subscribe("ticker") == {"type": "subscribed", "channel": "ticker"}
        assert await client.subscribe("other", id=5) == {
            "type": "error",
            "message": "Subscription limit reached (1).",
            "id": 5,
            "channel": "other",
        }
        await app._registry.channels["ticker"](value=7)
        assert await client.receive_json() == {"type": "data", "channel": "ticker", "data": 7}


@pytest.mark.bound(10)
async def test_a_burst_past_the_outbox_closes_that_client_with_1013(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = make_app(Settings(outbox_size=4))
    async with (
        open_test_server(app) as server,
        server.connect() as slow,
        server.connect() as calm,
    ):
        await slow.subscribe("ticker")
        # Frames queued with no checkpoint between: the writer takes the first, the next four
        # fill the outbox, the sixth finds it full.
        for value in range(6):
            server._server.deliver(Broadcast("ticker", {}, str(value).encode()))
        reason = await slow.wait_closed()
        assert (reason.code, reason.reason) == (1013, "Slow consumer: outbound queue full.")
        assert app.counters.slow_consumer_closes == 1
        await calm.send_json(ADD)
        assert await calm.receive_json() == ADDED


@pytest.mark.bound(10)
async def test_drop_oldest_policy_drops_data_frames_not_replies_and_keeps_the_client(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = make_app(Settings(outbox_size=4, slow_consumer_policy="drop_oldest"))
    async with open_test_server(app) as server, server.connect() as client:
        await client.subscribe("ticker")
        for value in range(10):
            server._server.deliver(Broadcast("ticker", {}, str(value).encode()))
        # The outbox holds four: 0..5 are dropped, oldest first, to make room for 6..9.
        received = [(await client.receive_json())["data"] for _ in range(4)]
        assert received == [6, 7, 8, 9]
        assert app.counters.frames_dropped == 6
        assert app.counters.slow_consumer_closes == 0
        await client.send_json(ADD)
        assert await client.receive_json() == ADDED


@pytest.mark.parametrize(
    ("expose", "boom_message"),
    [(True, "'secret table name'"), (False, "Internal server error.")],
)
@pytest.mark.bound(10)
async def test_expose_errors_decides_what_an_unexpected_exception_tells_the_client(
    expose: bool, boom_message: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(Settings(expose_errors=expose))
    async with open_test_server(app) as server, server.connect() as client:
        assert await client.action("boom") == {"type": "error", "message": boom_message}
        assert await client.action("refuse") == {"type": "error", "message": "Not your order."}
        await client.send_json(ADD)
        assert await client.receive_json() == ADDED
    assert app.counters.handler_errors == 2
    if not expose:
        assert "secret table name" in caplog.text  # the traceback is logged server-side


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="outbox_size"):
        Settings(outbox_size=0)
    with pytest.raises(ValueError, match="ping_interval"):
        Settings(ping_interval=-1)
    assert Settings(ping_interval=None).ping_interval is None
