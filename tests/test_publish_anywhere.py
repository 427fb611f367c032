"""Broadcasting from another task, another thread, and plain sync code with no loop."""

from __future__ import annotations

import functools
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
import trio

from trio_socketapi import SocketAPI
from trio_socketapi.testing import open_test_server


def make_app(port: int = 8000) -> SocketAPI:
    app = SocketAPI(host="127.0.0.1", port=port)

    @app.channel("ticker")
    async def ticker(value: int = 0) -> int:
        return value

    return app


@pytest.mark.bound(10)
async def test_a_broadcast_from_another_task_reaches_subscribers() -> None:
    app = make_app()
    ticker = app._registry.channels["ticker"]
    async with open_test_server(app) as server, server.connect() as client:
        await client.subscribe("ticker")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(functools.partial(ticker, value=5))
        assert await client.receive_json() == {"type": "data", "channel": "ticker", "data": 5}


@pytest.mark.bound(10)
async def test_publish_threadsafe_from_a_foreign_thread_reaches_subscribers() -> None:
    app = make_app()
    ticker = app._registry.channels["ticker"]
    results: list[Any] = []

    def library_callback() -> None:  # a thread trio did not start
        results.append(ticker.publish_threadsafe(value=6))

    async with open_test_server(app) as server, server.connect() as client:
        await client.subscribe("ticker")
        thread = threading.Thread(target=library_callback)
        thread.start()
        assert await client.receive_json() == {"type": "data", "channel": "ticker", "data": 6}
        await trio.to_thread.run_sync(thread.join)
    assert results == [6]


def test_publish_threadsafe_without_a_server_says_so() -> None:
    ticker = make_app()._registry.channels["ticker"]
    with pytest.raises(RuntimeError, match="no server of channel 'ticker'"):
        ticker.publish_threadsafe(value=1)


@pytest.mark.bound(30)
async def test_plain_sync_code_publishes_with_one_trio_run_line(tmp_path: Path) -> None:
    app = make_app()
    module = tmp_path / "cron_app.py"
    module.write_text(
        textwrap.dedent(
            """
            import functools, sys, trio
            from trio_socketapi import SocketAPI

            app = SocketAPI(host="127.0.0.1", port=int(sys.argv[1]))

            @app.channel("ticker")
            async def ticker(value: int = 0) -> int:
                return value

            trio.run(functools.partial(ticker, value=9))
            """
        )
    )
    async with trio.open_nursery() as nursery:
        port = await nursery.start(app.serve, "127.0.0.1", 0)
        async with open_test_server(app) as server, server.connect() as client:
            await client.subscribe("ticker")
            done = await trio.run_process(
                [sys.executable, str(module), str(port)], capture_stderr=True, check=False
            )
            assert done.returncode == 0, done.stderr
            assert await client.receive_json() == {"type": "data", "channel": "ticker", "data": 9}
        nursery.cancel_scope.cancel()
