"""One process, a thousand simultaneous connections (issue 5, item 8).

Every client connects first; only once all of them are open does each call an action, so the
server holds them all at once, and every one must get its own right answer. In memory (the
server code and WebSocket protocol without sockets) and over loopback TCP to ``app.serve``.

``test_memory_per_idle_subscribed_connection`` runs the server in a subprocess (the command line,
``python -m trio_socketapi``), holds ``SCALE_CONNECTIONS`` idle subscribed connections to it and
prints the growth of its resident memory per connection; it asserts only that they were all
served, not the figure.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pydantic_core
import pytest
import trio
import trio.lowlevel
from helpers import free_port
from trio_websocket import HandshakeError, WebSocketConnection, open_websocket

from trio_socketapi import SocketAPI
from trio_socketapi.testing import open_test_server

CONNECTIONS = int(os.environ.get("SCALE_CONNECTIONS", "1000"))
FILES_NEEDED = 2 * CONNECTIONS + 200
"""Both ends of every loopback connection live in this process, plus some to spare."""


def make_app() -> SocketAPI:
    app = SocketAPI(host="127.0.0.1")

    @app.action("add")
    async def add(a: int, b: int) -> int:
        return a + b

    @app.channel("ticker")
    async def ticker(seq: int = 0) -> int:
        return seq

    return app


def ensure_open_files(needed: int) -> None:
    """Raise this process's open-file limit to ``needed``, or skip the test saying why."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"needs {needed} open files; the hard limit is {hard}")
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        except (ValueError, OSError) as exc:
            pytest.skip(f"needs {needed} open files; cannot raise the limit from {soft}: {exc}")


async def send_json(ws: WebSocketConnection, message: Any) -> None:
    await ws.send_message(pydantic_core.to_json(message).decode())


async def receive_json(ws: WebSocketConnection) -> Any:
    return pydantic_core.from_json(await ws.get_message())


class Gate:
    """Lets the clients through together once ``count`` of them have arrived."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.arrived = 0
        self.open = trio.Event()

    async def arrive(self) -> None:
        self.arrived += 1
        if self.arrived == self.count:
            self.open.set()
        await self.open.wait()


async def call_together(
    connect: Callable[[], AbstractAsyncContextManager[WebSocketConnection]],
    app: SocketAPI,
) -> list[int]:
    """Open ``CONNECTIONS`` clients; once all are open, each calls ``add``; return the peak."""
    gate = Gate(CONNECTIONS)
    peak: list[int] = []
    answered: list[int] = []

    async def client(index: int) -> None:
        async with connect() as ws:
            await gate.arrive()
            if not peak:
                peak.append(app.counters.connections_open)
            message: dict[str, Any] = {
                "type": "action",
                "channel": "add",
                "data": {"a": index, "b": 10**12},
            }
            if index % 2:
                message["id"] = f"call-{index}"
            await send_json(ws, message)
            reply = await receive_json(ws)
            expected = {
                "type": "action",
                "channel": "add",
                "status": "completed",
                "data": index + 10**12,
            }
            if index % 2:
                expected["id"] = f"call-{index}"
            assert reply == expected
            answered.append(index)

    async with trio.open_nursery() as nursery:
        for index in range(CONNECTIONS):
            nursery.start_soon(client, index)
    assert sorted(answered) == list(range(CONNECTIONS))
    return peak


async def test_a_thousand_in_memory_connections_each_get_their_answer(
    autojump_clock: trio.abc.Clock,
) -> None:
    app = make_app()
    with trio.fail_after(120):  # virtual seconds
        async with open_test_server(app) as server:

            @asynccontextmanager
            async def connect() -> AsyncIterator[WebSocketConnection]:
                async with server.connect() as client:
                    yield client.ws

            peak = await call_together(connect, app)
    assert peak == [CONNECTIONS]
    assert app.counters.connections_open == 0
    assert app.counters.connections_total == CONNECTIONS


async def test_a_thousand_loopback_connections_each_get_their_answer() -> None:
    ensure_open_files(FILES_NEEDED)
    app = make_app()
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(app.serve, "127.0.0.1", 0)

            def connect() -> AbstractAsyncContextManager[WebSocketConnection]:
                return open_websocket("127.0.0.1", port, "/", use_ssl=False)

            peak = await call_together(connect, app)
            nursery.cancel_scope.cancel()
    assert peak == [CONNECTIONS]
    assert app.counters.connections_open == 0


# --- Memory per idle connection, measured on a server in its own process ----------------------

APP_MODULE = """
from trio_socketapi import SocketAPI

app = SocketAPI(host="127.0.0.1")


@app.channel("ticker")
async def ticker(seq: int = 0) -> int:
    return seq


@app.action("add")
async def add(a: int, b: int) -> int:
    return a + b
"""


def resident_kib(pid: int) -> int:
    """The process's resident set size (``VmRSS``), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


async def wait_until_serving(port: int, server: trio.Process) -> None:
    while True:
        assert server.poll() is None, "the server process exited"
        try:
            async with open_websocket("127.0.0.1", port, "/", use_ssl=False, connect_timeout=1):
                return
        except (OSError, HandshakeError):
            await trio.sleep(0.05)


async def subscribe_and_idle(port: int, count: int, measured: trio.Event, ready: Gate) -> None:
    async def client() -> None:
        async with open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:
            await send_json(ws, {"type": "subscribe", "channel": "ticker"})
            assert await receive_json(ws) == {"type": "subscribed", "channel": "ticker"}
            await ready.arrive()
            await measured.wait()

    async with trio.open_nursery() as nursery:
        for _ in range(count):
            nursery.start_soon(client)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
async def test_memory_per_idle_subscribed_connection(tmp_path: Path) -> None:
    ensure_open_files(CONNECTIONS + 200)
    (tmp_path / "scale_app.py").write_text(textwrap.dedent(APP_MODULE))
    port = free_port()
    command = [sys.executable, "-m", "trio_socketapi", "scale_app:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    server = await trio.lowlevel.open_process(command, cwd=tmp_path, stdin=subprocess.DEVNULL)
    try:
        with trio.fail_after(60):
            await wait_until_serving(port, server)
            # Warm up: one connection through subscribe and an action, so that what is built
            # once per process (validators, caches) is in the baseline.
            async with open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:
                await send_json(ws, {"type": "subscribe", "channel": "ticker"})
                await receive_json(ws)
                await send_json(ws, {"type": "action", "channel": "add", "data": {"a": 1, "b": 2}})
                assert (await receive_json(ws))["data"] == 3
            await trio.sleep(0.2)
            before = resident_kib(server.pid)
            measured = trio.Event()
            ready = Gate(CONNECTIONS)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(subscribe_and_idle, port, CONNECTIONS, measured, ready)
                await ready.open.wait()
                await trio.sleep(0.5)  # let the server settle: nothing is in flight now
                after = resident_kib(server.pid)
                measured.set()
    finally:
        server.terminate()
        with trio.CancelScope(shield=True):
            with trio.move_on_after(10):
                await server.wait()
            if server.poll() is None:
                server.kill()
                await server.wait()
    per_connection = (after - before) / CONNECTIONS
    print(
        f"\nserver RSS: {before} KiB with no client, {after} KiB with {CONNECTIONS} idle "
        f"subscribed connections: {per_connection:.1f} KiB per connection"
    )
    assert after >= before
