"""Lifespans (set up before serving, torn down after) and background tasks (run while serving)."""

from __future__ import annotations

import faulthandler
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
import trio.lowlevel

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup
from trio_websocket import ConnectionClosed, open_websocket

from trio_socketapi import Router, SocketAPI
from trio_socketapi.testing import open_test_client, open_test_server


def app_with_pool(events: list[str]) -> SocketAPI:
    """An app whose ``lookup`` action uses a resource its lifespan opens and closes."""
    app = SocketAPI(host="127.0.0.1")
    pool: dict[str, int] = {}

    @app.lifespan
    async def open_pool() -> AsyncIterator[None]:
        pool["answer"] = 42
        events.append("setup")
        yield
        events.append(f"teardown with {app.counters.connections_open} connections open")
        pool.clear()

    @app.action("lookup")
    async def lookup(key: str) -> int:
        return pool[key]

    return app


@pytest.mark.bound(10)
async def test_a_lifespan_sets_up_before_clients_and_tears_down_after_the_last_one() -> None:
    events: list[str] = []
    app = app_with_pool(events)
    async with open_test_server(app) as server:
        assert events == ["setup"]
        async with server.connect() as client:
            reply = await client.action("lookup", {"key": "answer"})
            assert reply["data"] == 42
    assert events == ["setup", "teardown with 0 connections open"]


@pytest.mark.bound(10)
async def test_serve_runs_lifespans_around_a_real_listener() -> None:
    events: list[str] = []
    app = app_with_pool(events)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(app.serve, "127.0.0.1", 0)
        assert events == ["setup"]
        async with open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:
            message = {"type": "action", "channel": "lookup", "data": {"key": "answer"}}
            await ws.send_message(json.dumps(message))
            assert json.loads(await ws.get_message())["data"] == 42
            nursery.cancel_scope.cancel()  # what SIGINT does to the command line's server
    assert events == ["setup", "teardown with 0 connections open"]


async def test_a_background_task_broadcasts_to_subscribers_while_serving(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = SocketAPI()

    @app.channel("clock")
    async def clock(tick: int = 0) -> int:
        return tick

    @app.background
    async def ticker() -> None:
        tick = 0
        while True:
            await trio.sleep(1)
            tick += 1
            await clock(tick=tick)

    with trio.fail_after(30):
        async with open_test_client(app) as client:
            assert await client.subscribe("clock") == {"type": "subscribed", "channel": "clock"}
            frames = [await client.receive_json() for _ in range(3)]
    assert [f["data"] for f in frames] == [1, 2, 3]
    assert all(f == {"type": "data", "channel": "clock", "data": f["data"]} for f in frames)


@pytest.mark.bound(10)
async def test_shutdown_cancels_background_tasks_then_closes_clients_then_tears_down() -> None:
    events: list[str] = []
    app = SocketAPI()

    @app.lifespan
    async def resource() -> AsyncIterator[None]:
        yield
        await trio.lowlevel.checkpoint()  # teardown may await: shielded from the shutdown
        events.append(f"lifespan teardown, {app.counters.connections_open} open")

    @app.background
    async def worker() -> None:
        try:
            await trio.sleep_forever()
        finally:
            events.append("background cancelled")

    async with open_test_server(app) as server, server.connect() as client:
        await client.ws.ping()
        events.append("client connected")
    assert events == ["client connected", "background cancelled", "lifespan teardown, 0 open"]


@pytest.mark.bound(10)
async def test_lifespans_start_in_order_and_end_in_reverse() -> None:
    events: list[str] = []
    app = SocketAPI()
    router = Router()

    def recorder(name: str) -> Any:
        async def lifespan() -> AsyncIterator[None]:
            events.append(f"{name} up")
            yield
            events.append(f"{name} down")

        return lifespan

    app.lifespan(recorder("app"))
    router.lifespan(recorder("router"))
    app.include_router(router)
    app.include_router(router)  # included twice: its lifespan still runs once
    async with open_test_server(app):
        events.append("serving")
    assert events == ["app up", "router up", "serving", "router down", "app down"]


async def test_a_failing_lifespan_setup_stops_serve_with_its_own_error() -> None:
    app = SocketAPI()

    @app.lifespan
    async def broken() -> AsyncIterator[None]:
        raise RuntimeError("database unreachable")
        yield  # pragma: no cover

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            with pytest.raises(RuntimeError, match="database unreachable"):
                await nursery.start(app.serve, "127.0.0.1", 0)
    assert not app.publishes_here  # nothing is left running


async def test_a_background_task_that_fails_stops_the_server_and_clients_get_1001() -> None:
    app = SocketAPI()
    crash = trio.Event()

    @app.background
    async def fragile() -> None:
        await crash.wait()
        raise ValueError("feed lost")

    with trio.fail_after(10):
        # serve() raises the ValueError itself; the test's nursery groups it, as nurseries do.
        with pytest.raises(ExceptionGroup) as stopped:
            async with trio.open_nursery() as nursery:
                port = await nursery.start(app.serve, "127.0.0.1", 0)
                async with open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:
                    crash.set()
                    with pytest.raises(ConnectionClosed) as closed:
                        await ws.get_message()
                    assert closed.value.reason.code == 1001
    assert stopped.group_contains(ValueError, match="feed lost", depth=1)


async def test_a_teardown_that_hangs_is_cut_off_after_the_shutdown_timeout(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = SocketAPI()

    @app.lifespan
    async def stuck() -> AsyncIterator[None]:
        yield
        await trio.sleep_forever()

    with trio.fail_after(30):
        async with open_test_server(app):
            stopping = trio.current_time()
    assert trio.current_time() - stopping == pytest.approx(app.settings.shutdown_timeout)


def test_the_decorators_return_the_function_itself() -> None:
    app = SocketAPI()
    router = Router()

    async def lifespan() -> AsyncIterator[None]:
        yield

    async def task() -> None:
        pass

    assert app.lifespan(lifespan) is lifespan and router.lifespan(lifespan) is lifespan
    assert app.background(task) is task and router.background(task) is task


@pytest.mark.bound(10)
async def test_a_failing_teardown_is_logged_and_raised_after_the_others_ran(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[str] = []
    app = SocketAPI()

    @app.lifespan
    async def outer() -> AsyncIterator[None]:
        yield
        events.append("outer torn down")

    @app.lifespan
    async def inner() -> AsyncIterator[None]:
        yield
        raise OSError("could not flush the cache")

    with pytest.raises(OSError, match="could not flush the cache"):
        async with open_test_server(app):
            pass
    assert events == ["outer torn down"]  # one failing teardown does not skip the others
    assert any(r.getMessage() == "lifespan teardown failed" for r in caplog.records)


def test_run_raises_a_failed_background_task_s_error_itself() -> None:
    app = SocketAPI(host="127.0.0.1", port=0)

    @app.background
    async def fragile() -> None:
        raise ValueError("feed lost")

    # app.run() makes its own trio loop, so no fail_after: a hang dumps the stacks and exits.
    faulthandler.dump_traceback_later(20, exit=True)
    try:
        with pytest.raises(ValueError, match="feed lost"):
            app.run()  # what python -m trio_socketapi calls: it must not hang or group the error
    finally:
        faulthandler.cancel_dump_traceback_later()
