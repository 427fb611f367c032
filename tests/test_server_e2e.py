"""End to end over loopback TCP: serving, shutdown with 1001, slow consumers, forwarding."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
import trio.lowlevel
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket

from trio_socketapi import PublishError, Settings, SocketAPI


def make_app(**kwargs: Any) -> SocketAPI:
    app = SocketAPI(host="127.0.0.1", **kwargs)

    @app.action("add")
    async def add(a: int, b: int) -> int:
        return a + b

    @app.channel("ticker")
    async def ticker(value: int = 0, blob: str = "") -> dict[str, Any]:
        return {"value": value, "blob": blob}

    @app.action("tick")
    async def tick(value: int) -> None:
        await ticker(value=value)

    return app


async def send(ws: WebSocketConnection, message: dict[str, Any]) -> None:
    await ws.send_message(json.dumps(message))


async def receive(ws: WebSocketConnection) -> Any:
    return json.loads(await ws.get_message())


async def wait_for(predicate: Any, *, interval: float = 0.01) -> None:
    # Polls a server-side counter; callers bound it with fail_after.
    while not predicate():  # noqa: ASYNC110
        await trio.sleep(interval)


async def test_serve_reports_the_bound_port_and_answers_over_loopback() -> None:
    app = make_app()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(app.serve, "127.0.0.1", 0)
            assert isinstance(port, int) and port > 0
            async with open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:
                await send(ws, {"type": "action", "channel": "add", "data": {"a": 2, "b": 3}})
                assert await receive(ws) == {
                    "type": "action",
                    "channel": "add",
                    "status": "completed",
                    "data": 5,
                }
            nursery.cancel_scope.cancel()


async def test_cancelling_serve_closes_every_client_with_1001_and_returns() -> None:
    app = make_app()
    codes: list[int | None] = []

    async def client(port: int, task_status: trio.TaskStatus[None]) -> None:
        async with open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:
            await send(ws, {"type": "subscribe", "channel": "ticker"})
            assert await receive(ws) == {"type": "subscribed", "channel": "ticker"}
            task_status.started()
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
            assert closed.value.reason is not None
            codes.append(closed.value.reason.code)

    with trio.fail_after(10):
        async with trio.open_nursery() as clients, trio.open_nursery() as server:
            port = await server.start(app.serve, "127.0.0.1", 0)
            for _ in range(3):
                await clients.start(client, port)
            assert app.counters.connections_open == 3
            server.cancel_scope.cancel()
    assert codes == [1001, 1001, 1001]
    assert app.counters.connections_open == 0
    assert app.counters.subscriptions == 0
    assert not app.publishes_here


async def test_slow_subscriber_is_closed_1013_and_the_others_get_every_message() -> None:
    app = make_app(settings=Settings(outbox_size=16, close_timeout=5))
    blob = "x" * 4096
    count = 2000
    received: list[int] = []

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(app.serve, "127.0.0.1", 0)
            async with (
                open_websocket("127.0.0.1", port, "/", use_ssl=False) as stalled,
                open_websocket("127.0.0.1", port, "/", use_ssl=False, message_queue_size=0) as fast,
            ):
                for ws in (stalled, fast):
                    await send(ws, {"type": "subscribe", "channel": "ticker"})
                    assert (await receive(ws))["type"] == "subscribed"

                async def read_all() -> None:
                    for _ in range(count):
                        frame = await receive(fast)
                        received.append(frame["data"]["value"])

                async with trio.open_nursery() as readers:
                    readers.start_soon(read_all)
                    for value in range(count):
                        await app._registry.channels["ticker"](value=value, blob=blob)
                        await trio.lowlevel.checkpoint()
                    # The stalled client never read: by now its outbox overflowed.
                    await wait_for(lambda: app.counters.slow_consumer_closes == 1)
                # It wakes up: what it finds after the queued data is the 1013 close frame.
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await stalled.get_message()
                assert closed.value.reason is not None
                assert closed.value.reason.code == 1013
            nursery.cancel_scope.cancel()
    assert received == list(range(count))


async def test_a_process_without_a_server_forwards_broadcasts_to_the_server() -> None:
    server_app = make_app()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(server_app.serve, "127.0.0.1", 0)
            # The same app module imported by a cron script: nothing serves it there.
            script_app = make_app(port=port)
            async with open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:
                await send(ws, {"type": "subscribe", "channel": "ticker"})
                await receive(ws)
                result = await script_app._registry.channels["ticker"](value=9)
                assert result is None  # the server ran the function, not this process
                assert await receive(ws) == {
                    "type": "data",
                    "channel": "ticker",
                    "data": {"value": 9, "blob": ""},
                }
            nursery.cancel_scope.cancel()


async def test_forwarding_without_the_token_is_refused_and_delivers_nothing() -> None:
    server_app = make_app(broadcast_token="s3cret")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(server_app.serve, "127.0.0.1", 0)
            wrong = make_app(port=port, broadcast_token="guess")
            right = make_app(port=port, broadcast_token="s3cret")
            async with open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:
                await send(ws, {"type": "subscribe", "channel": "ticker"})
                await receive(ws)
                with pytest.raises(PublishError, match="not allowed"):
                    await wrong._registry.channels["ticker"](value=1)
                await right._registry.channels["ticker"](value=2)
                assert (await receive(ws))["data"] == {"value": 2, "blob": ""}
            nursery.cancel_scope.cancel()


async def test_forwarding_to_no_server_raises_a_clear_error() -> None:
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        free_port = sock.getsockname()[1]
    app = make_app(port=free_port)
    with trio.fail_after(10), pytest.raises(PublishError, match="cannot forward"):
        await app._registry.channels["ticker"](value=1)


def _ipv6_loopback_available() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback_available(), reason="no IPv6 loopback here")
async def test_serving_on_ipv6_loopback_answers_and_logs_a_usable_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app()
    with trio.fail_after(10), caplog.at_level("INFO", logger="trio_socketapi"):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(app.serve, "::1", 0)
            async with open_websocket("::1", port, "/", use_ssl=False) as ws:
                await send(ws, {"type": "action", "channel": "add", "data": {"a": 1, "b": 2}})
                assert (await receive(ws))["data"] == 3
            nursery.cancel_scope.cancel()
    assert f"serving on ws://[::1]:{port}/" in caplog.text
