"""The Python client (``trio_socketapi.client``) against the real server code, in memory.

Every test runs an app with ``trio_socketapi.testing.open_test_server`` and connects the client
to it through ``connector=server.open_stream``: real WebSocket frames, no sockets, and virtual
time (``autojump_clock``) for timeouts and reconnect backoff. A "restart" closes the test server
(every client gets 1001) and opens a new one for the same app.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import pydantic
import pytest
import trio

from trio_socketapi import HandshakeRefused, RequiredOnSubscribe, SocketAPI
from trio_socketapi.client import (
    ActionError,
    Client,
    ClientClosed,
    ConnectionLost,
    FeedOverflow,
    HandshakeRejected,
    Reconnect,
    connect,
)
from trio_socketapi.testing import TestServer, open_test_server

URL = "ws://testserver/"
FAST = Reconnect(initial_delay=0.1, max_delay=1.0, max_attempts=5)


class Point(pydantic.BaseModel):
    x: int
    y: int


def build_app() -> tuple[SocketAPI, Any, Any, Any]:
    """A fresh app, and its ``add``, ``point`` and ``room`` handlers for typed calls."""
    app = SocketAPI()

    @app.action("add")
    async def add(a: int, b: int = 0) -> int:
        return a + b

    @app.action("point")
    async def point(x: int, y: int) -> Point:
        return Point(x=x, y=y)

    @app.action("slow")
    async def slow(seconds: float, value: str) -> str:
        await trio.sleep(seconds)
        return value

    @app.action("fail")
    async def fail(reason: str) -> None:
        raise ValueError(f"cannot: {reason}")

    @app.action("nothing")
    async def nothing() -> None:
        return None

    @app.channel("room", default_response=True)
    async def room(name: Annotated[str, RequiredOnSubscribe], text: str = "welcome") -> str:
        return f"{name}: {text}"

    @app.action("say")
    async def say(name: str, text: str) -> None:
        await room(name=name, text=text)

    @app.channel("news")
    async def news(text: str = "") -> str:
        return text

    @app.action("shout")
    async def shout(text: str, times: int = 1) -> None:
        for _ in range(times):
            await news(text=text)

    return app, add, point, room


def make_app() -> SocketAPI:
    return build_app()[0]


APP, add, point, room = build_app()


class Restartable:
    """A test server that can be stopped and started again, and a connector that follows it."""

    def __init__(self, app: SocketAPI) -> None:
        self.app = app
        self.server: TestServer | None = None
        self.connections = 0

    async def open_stream(self) -> trio.abc.Stream:
        self.connections += 1
        if self.server is None:
            raise ConnectionRefusedError("no server listening")
        return await self.server.open_stream()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[TestServer]:
        async with open_test_server(self.app) as server:
            self.server = server
            try:
                yield server
            finally:
                self.server = None


@asynccontextmanager
async def client_of(app: SocketAPI, **options: Any) -> AsyncIterator[Client]:
    async with (
        open_test_server(app) as server,
        connect(URL, connector=server.open_stream, **options) as client,
    ):
        yield client


# -- actions ------------------------------------------------------------------------------


@pytest.mark.bound(10)
async def test_action_by_name_returns_the_json_result(autojump_clock: Any) -> None:
    async with client_of(APP) as client:
        assert await client.action("add", a=1, b=2) == 3
        assert await client.action("point", x=1, y=2) == {"x": 1, "y": 2}
        assert await client.action("nothing") is None


@pytest.mark.bound(10)
async def test_action_by_handler_checks_arguments_and_types_the_result(autojump_clock: Any) -> None:
    async with client_of(APP) as client:
        assert await client.action(add, 1, b=2) == 3
        assert await client.action(add, a=5) == 5  # the server applies the default
        assert await client.action(point, x=1, y=2) == Point(x=1, y=2)
        with pytest.raises(TypeError):
            await client.action(add, 1, 2, 3)  # type: ignore[call-arg]


@pytest.mark.bound(10)
async def test_many_actions_in_flight_get_their_own_replies(autojump_clock: Any) -> None:
    results: dict[str, str] = {}
    async with client_of(APP) as client:

        async def call(seconds: float, value: str) -> None:
            results[value] = await client.action("slow", seconds=seconds, value=value)

        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            for seconds, value in [(3, "third"), (1, "first"), (2, "second")]:
                nursery.start_soon(call, seconds, value)
        elapsed = trio.current_time() - start
    assert results == {"first": "first", "second": "second", "third": "third"}
    assert elapsed < 3.5  # concurrent, not one after another (6 s)


@pytest.mark.bound(10)
async def test_an_error_frame_raises_action_error_with_message_and_errors(
    autojump_clock: Any,
) -> None:
    async with client_of(APP) as client:
        with pytest.raises(ActionError) as invalid:
            await client.action("add", a="x")
        assert invalid.value.message == "Invalid parameters for action 'add'"
        assert invalid.value.errors is not None
        assert [e["loc"] for e in invalid.value.errors] == [["a"]]
        with pytest.raises(ActionError, match=r"^cannot: stock$") as raised:
            await client.action("fail", reason="stock")
        assert raised.value.errors is None
        assert raised.value.channel == "fail"
        with pytest.raises(ActionError, match=re.escape("Action 'nope' not found.")):
            await client.action("nope")
        assert await client.action("add", a=1) == 1  # the connection is fine


@pytest.mark.bound(30)
async def test_a_slow_reply_raises_too_slow_and_is_ignored_when_it_comes(
    autojump_clock: Any,
) -> None:
    async with client_of(APP, timeout=2.0) as client:
        with pytest.raises(trio.TooSlowError):
            await client.action("slow", seconds=5, value="late")
        client.timeout = 10.0
        assert await client.action("slow", seconds=5, value="on time") == "on time"
        assert await client.action("add", a=2) == 2


@pytest.mark.bound(10)
async def test_a_closed_client_raises_client_closed(autojump_clock: Any) -> None:
    async with client_of(APP) as client:
        await client.aclose()
        assert client.closed
        with pytest.raises(ClientClosed, match="closed"):
            await client.action("add", a=1)
        await client.aclose()  # twice is fine


@pytest.mark.bound(10)
async def test_a_name_with_positional_arguments_is_a_type_error(autojump_clock: Any) -> None:
    async with client_of(APP) as client:
        with pytest.raises(TypeError, match="by keyword"):
            await client.action("add", 1)


def test_a_bad_url_or_feed_setting_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="ws://"):
        Client("http://example.test/")
    with pytest.raises(ValueError, match="at least one"):
        Client(URL, feed_size=0)
    with pytest.raises(ValueError, match="overflow"):
        Client(URL, overflow="block")  # type: ignore[arg-type]


# -- subscriptions ------------------------------------------------------------------------


@pytest.mark.bound(10)
async def test_each_room_feed_gets_only_its_room(autojump_clock: Any) -> None:
    async with (
        client_of(APP) as client,
        client.subscribe("room", name="a") as a,
        client.subscribe(room, name="b") as b,
    ):
        assert await a.receive() == "a: welcome"  # the default response
        assert await b.receive() == "b: welcome"
        await client.action("say", name="a", text="hi a")
        await client.action("say", name="b", text="hi b")
        await client.action("say", name="a", text="again a")
        assert [await a.receive(), await a.receive()] == ["a: hi a", "a: again a"]
        assert await b.receive() == "b: hi b"


@pytest.mark.bound(10)
async def test_leaving_the_block_unsubscribes(autojump_clock: Any) -> None:
    app = make_app()
    async with client_of(app) as client:
        async with client.subscribe("news") as feed:
            assert app.counters.subscriptions == 1
            await client.action("shout", text="one")
            assert await feed.receive() == "one"
        assert app.counters.subscriptions == 0
        assert feed.ended
        async for _ in feed:  # iteration ends: the buffer is empty and nothing more comes
            pytest.fail("no message expected")


@pytest.mark.bound(10)
async def test_feeds_of_the_same_subscription_share_it(autojump_clock: Any) -> None:
    app = make_app()
    async with client_of(app) as client:
        async with client.subscribe("news") as first:
            async with client.subscribe("news") as second:
                assert app.counters.subscriptions == 1
                await client.action("shout", text="both")
                assert await first.receive() == await second.receive() == "both"
            assert app.counters.subscriptions == 1  # the first still holds it
            await client.action("shout", text="first only")
            assert await first.receive() == "first only"
        assert app.counters.subscriptions == 0


@pytest.mark.bound(10)
async def test_a_refused_subscribe_raises_and_holds_nothing(autojump_clock: Any) -> None:
    app = make_app()
    async with client_of(app) as client:
        with pytest.raises(ActionError, match=re.escape("Channel 'nope' not found.")):
            async with client.subscribe("nope"):
                pytest.fail("not entered")
        with pytest.raises(ActionError, match="Invalid parameters") as invalid:
            async with client.subscribe("room"):
                pytest.fail("not entered")
        assert invalid.value.errors is not None
        assert app.counters.subscriptions == 0
        async with client.subscribe("room", name="ok") as feed:
            assert await feed.receive() == "ok: welcome"


@pytest.mark.bound(10)
async def test_a_feed_that_falls_behind_raises_feed_overflow_after_its_buffer(
    autojump_clock: Any,
) -> None:
    async with client_of(APP, feed_size=3) as client, client.subscribe("news") as feed:
        await client.action("shout", text="x", times=5)
        await client.action("add", a=1)  # every broadcast has arrived once this returns
        assert [await feed.receive() for _ in range(3)] == ["x", "x", "x"]
        with pytest.raises(FeedOverflow, match="3 messages behind"):
            await feed.receive()


@pytest.mark.bound(10)
async def test_drop_oldest_keeps_the_latest_messages(autojump_clock: Any) -> None:
    async with (
        client_of(APP, feed_size=2, overflow="drop_oldest") as client,
        client.subscribe("news") as feed,
    ):
        for text in ["1", "2", "3", "4"]:
            await client.action("shout", text=text)
        await client.action("add", a=1)
        assert [await feed.receive(), await feed.receive()] == ["3", "4"]
        assert feed.dropped == 2


# -- reconnecting -------------------------------------------------------------------------


@pytest.mark.bound(60)
async def test_after_a_restart_it_reconnects_resubscribes_and_says_so(
    autojump_clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trio_socketapi.client")
    server = Restartable(make_app())
    lost: list[str] = []
    back = trio.Event()

    def on_reconnect(attempts: int) -> None:
        back.set()

    async with trio.open_nursery() as nursery:
        restart = trio.Event()

        async def run_server() -> None:
            async with server.running():
                await restart.wait()
            await trio.sleep(0.5)  # down for a while: the first attempts fail
            async with server.running():
                await trio.sleep_forever()

        nursery.start_soon(run_server)
        await trio.testing.wait_all_tasks_blocked()
        async with (
            connect(
                URL,
                connector=server.open_stream,
                reconnect=FAST,
                on_disconnect=lost.append,
                on_reconnect=on_reconnect,
            ) as client,
            client.subscribe("room", name="a") as feed,
        ):
            assert await feed.receive() == "a: welcome"
            restart.set()
            await back.wait()
            assert client.reconnects == 1
            assert await feed.receive() == "a: welcome"  # subscribed again
            await client.action("say", name="a", text="after")
            assert await feed.receive() == "a: after"
        nursery.cancel_scope.cancel()
    assert lost and "1001" in lost[0]
    assert server.connections > 2  # attempts failed while the server was down
    messages = [r.getMessage() for r in caplog.records]
    assert any("lost" in m and "reconnecting" in m for m in messages)
    assert any("reconnected" in m and "resubscribed 1" in m for m in messages)


@pytest.mark.bound(60)
async def test_an_action_in_flight_at_the_drop_fails_instead_of_hanging(
    autojump_clock: Any,
) -> None:
    server = Restartable(make_app())
    async with trio.open_nursery() as nursery:
        stop = trio.Event()

        async def run_server() -> None:
            async with server.running():
                await stop.wait()
            async with server.running():
                await trio.sleep_forever()

        nursery.start_soon(run_server)
        await trio.testing.wait_all_tasks_blocked()
        async with connect(URL, connector=server.open_stream, reconnect=FAST) as client:
            async with trio.open_nursery() as calls:

                async def stop_soon() -> None:
                    await trio.sleep(1)
                    stop.set()

                calls.start_soon(stop_soon)
                with pytest.raises(ConnectionLost, match="'slow'"):
                    await client.action("slow", seconds=100, value="never")
            assert await client.action("add", a=4) == 4  # waits for the reconnect
        nursery.cancel_scope.cancel()


@pytest.mark.bound(60)
async def test_it_gives_up_after_max_attempts_and_feeds_raise(autojump_clock: Any) -> None:
    server = Restartable(make_app())
    async with trio.open_nursery() as nursery:
        stop = trio.Event()

        async def run_server() -> None:
            async with server.running():
                await stop.wait()

        nursery.start_soon(run_server)
        await trio.testing.wait_all_tasks_blocked()
        policy = Reconnect(initial_delay=0.1, max_delay=0.5, max_attempts=3)
        async with connect(URL, connector=server.open_stream, reconnect=policy) as client:
            async with client.subscribe("news") as feed:
                stop.set()
                with pytest.raises(ConnectionLost, match="gave up after 3 attempts"):
                    await feed.receive()
            assert client.closed
            with pytest.raises(ConnectionLost):
                await client.action("add", a=1)
        assert server.connections == 1 + 3


@asynccontextmanager
async def restarted_once(server: Restartable) -> AsyncIterator[trio.Event]:
    """Serve ``server`` until the yielded event is set, then restart it and serve on."""
    async with trio.open_nursery() as nursery:
        restart = trio.Event()

        async def run_server() -> None:
            async with server.running():
                await restart.wait()
            async with server.running():
                await trio.sleep_forever()

        nursery.start_soon(run_server)
        await trio.testing.wait_all_tasks_blocked()
        yield restart
        nursery.cancel_scope.cancel()


@pytest.mark.bound(30)
async def test_a_refused_reconnect_is_not_retried(autojump_clock: Any) -> None:
    app = make_app()
    refusing = False

    @app.on_handshake
    async def gate(connection: Any) -> None:
        if refusing:
            raise HandshakeRefused(403, "go away")

    server = Restartable(app)
    async with restarted_once(server) as restart:
        async with (
            connect(URL, connector=server.open_stream, reconnect=FAST) as client,
            client.subscribe("news") as feed,
        ):
            refusing = True
            restart.set()
            with pytest.raises(HandshakeRejected, match="403") as rejected:
                await feed.receive()
            assert rejected.value.status_code == 403
        assert server.connections == 2


@pytest.mark.bound(30)
async def test_a_reconnect_refused_with_503_is_retried_until_the_server_admits_it(
    autojump_clock: Any,
) -> None:
    app = make_app()
    refusals_left = 0

    @app.on_handshake
    async def gate(connection: Any) -> None:
        nonlocal refusals_left
        if refusals_left:
            refusals_left -= 1
            raise HandshakeRefused(503, "Shutting down")

    server = Restartable(app)
    async with restarted_once(server) as restart:
        back = trio.Event()
        async with (
            connect(
                URL,
                connector=server.open_stream,
                reconnect=FAST,
                on_reconnect=lambda attempts: back.set(),
            ) as client,
            client.subscribe("news") as feed,
        ):
            refusals_left = 2
            restart.set()
            await back.wait()
            await client.action("shout", text="back")
            assert await feed.receive() == "back"  # resubscribed: the feed carries on
        assert refusals_left == 0
        assert server.connections == 1 + 2 + 1


@pytest.mark.bound(30)
async def test_without_reconnect_a_drop_closes_the_client(autojump_clock: Any) -> None:
    server = Restartable(make_app())
    async with trio.open_nursery() as nursery:
        stop = trio.Event()

        async def run_server() -> None:
            async with server.running():
                await stop.wait()

        nursery.start_soon(run_server)
        await trio.testing.wait_all_tasks_blocked()
        async with connect(URL, connector=server.open_stream, reconnect=None) as client:
            async with client.subscribe("news") as feed:
                stop.set()
                with pytest.raises(ConnectionLost, match="1001"):
                    await feed.receive()
            assert client.closed
    assert server.connections == 1


@pytest.mark.bound(10)
async def test_the_user_closing_never_reconnects(autojump_clock: Any) -> None:
    server = Restartable(make_app())
    async with server.running():
        async with (
            connect(URL, connector=server.open_stream, reconnect=FAST) as client,
            client.subscribe("news") as feed,
        ):
            await client.aclose()
            async for _ in feed:
                pytest.fail("no message expected")
        await trio.sleep(5)
    assert server.connections == 1


@pytest.mark.bound(10)
async def test_the_first_connection_failing_raises_from_connect(autojump_clock: Any) -> None:
    server = Restartable(make_app())
    with pytest.raises(ConnectionRefusedError):
        async with connect(URL, connector=server.open_stream):
            pytest.fail("not entered")
    app = make_app()

    @app.on_handshake
    async def gate(connection: Any) -> None:
        raise HandshakeRefused(401, "sign in")

    with pytest.raises(HandshakeRejected, match="401"):
        async with client_of(app):
            pytest.fail("not entered")


@pytest.mark.bound(10)
async def test_an_error_in_the_block_is_raised_as_it_is(autojump_clock: Any) -> None:
    with pytest.raises(KeyError):
        async with client_of(APP):
            raise KeyError("mine")


@pytest.mark.parametrize(
    ("attempt", "randomness", "expected"),
    [(1, 0.0, 0.5), (2, 0.0, 1.0), (3, 0.0, 2.0), (1, 0.999, 0.25025), (20, 0.0, 30.0)],
)
def test_backoff_grows_to_its_ceiling_and_jitter_only_shortens(
    attempt: int, randomness: float, expected: float
) -> None:
    assert Reconnect().delay(attempt, randomness) == pytest.approx(expected)


def test_backoff_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        Reconnect(initial_delay=0)
    with pytest.raises(ValueError):
        Reconnect(jitter=1.5)
    with pytest.raises(ValueError):
        Reconnect(max_attempts=0)
    assert Reconnect().delay(10_000, 0.0) == 30.0  # no overflow, however long it tried


# -- socketapi 0.2.0 mode, against our own server (tests/test_client_compat.py: socketapi) --


@pytest.mark.bound(10)
async def test_compat_mode_matches_replies_by_order(autojump_clock: Any) -> None:
    async with client_of(APP, compat=True) as client:
        results: list[str] = []

        async def call(seconds: float, value: str) -> None:
            results.append(await client.action("slow", seconds=seconds, value=value))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(call, 2, "first")
            await trio.sleep(0.1)
            nursery.start_soon(call, 1, "second")
        assert results == ["first", "second"]  # one at a time
        with pytest.raises(ActionError, match="cannot"):
            await client.action("fail", reason="x")
        async with client.subscribe("room", name="a") as feed:
            assert await feed.receive() == "a: welcome"
            with pytest.raises(ValueError, match="one subscription per channel"):
                async with client.subscribe("room", name="b"):
                    pass


@pytest.mark.bound(30)
async def test_compat_mode_survives_a_timed_out_reply(autojump_clock: Any) -> None:
    async with client_of(APP, compat=True, timeout=2.0) as client:
        with pytest.raises(trio.TooSlowError):
            await client.action("slow", seconds=3, value="late")
        assert await client.action("add", a=7) == 7  # the late reply is not taken for this one
