"""The Python client in ``compat=True`` mode against a real socketapi 0.2.0 server (uvicorn).

socketapi knows no request ids: the client sends one request at a time and takes the next reply
frame as its answer. Runs in ``nox -s compat`` (which installs socketapi and uvicorn); skipped
where they are not installed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
import trio

pytest.importorskip("socketapi", reason="socketapi is installed by `nox -s compat` only")
pytest.importorskip("uvicorn", reason="uvicorn is installed by `nox -s compat` only")

from helpers import free_port
from test_socketapi_compat import start, stop

from trio_socketapi.client import ActionError, Reconnect, connect

UVICORN = [sys.executable, "-m", "uvicorn", "tests.compat.socketapi_app:app", "--log-level"]


class SocketapiServer:
    """socketapi 0.2.0 under uvicorn on one port, which ``restart`` stops and starts again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = start([*UVICORN, "warning", "--port", str(self.port)], self.port)

    def restart(self) -> None:
        stop(self.process)
        self.process = start([*UVICORN, "warning", "--port", str(self.port)], self.port)


@pytest.fixture
def server() -> Iterator[SocketapiServer]:
    server = SocketapiServer()
    try:
        yield server
    finally:
        stop(server.process)


@pytest.mark.bound(20)
async def test_actions_errors_and_channels_against_socketapi(server: SocketapiServer) -> None:
    async with connect(f"ws://127.0.0.1:{server.port}/", compat=True) as client:
        assert await client.action("add", a=1, b=2) == 3
        assert await client.action("item", name="pen", qty=2) == {"name": "pen", "qty": 2}
        assert await client.action("nothing", x=1) is None
        with pytest.raises(ActionError, match="cannot: stock"):
            await client.action("fail", reason="stock")
        with pytest.raises(ActionError, match="not found"):
            await client.action("nope")
        async with client.subscribe("feed", topic="t") as feed:
            assert await feed.receive() == "t: welcome"
        async with client.subscribe("news") as news:
            async with trio.open_nursery() as nursery:  # many callers, one request at a time
                for text in ["a", "b", "c"]:
                    nursery.start_soon(lambda t: client.action("say", text=t), text)
            received = [await news.receive() for _ in range(3)]
            assert sorted(m["text"] for m in received) == ["a", "b", "c"]
        assert await client.action("say", text="after") == "after"  # unsubscribed: no data


@pytest.mark.bound(40)
async def test_it_reconnects_to_a_restarted_socketapi_server(server: SocketapiServer) -> None:
    reconnected = trio.Event()
    policy = Reconnect(initial_delay=0.1, max_delay=0.5, max_attempts=60)
    async with (
        connect(
            f"ws://127.0.0.1:{server.port}/",
            compat=True,
            reconnect=policy,
            on_reconnect=lambda _: reconnected.set(),
        ) as client,
        client.subscribe("news") as news,
    ):
        await client.action("say", text="before")
        assert await news.receive() == {"text": "before"}
        await trio.to_thread.run_sync(server.restart)
        await reconnected.wait()
        await client.action("say", text="after")  # resubscribed on the new server
        assert await news.receive() == {"text": "after"}
