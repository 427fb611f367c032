"""Presence on Redis: exact across processes, and a killed process's entries expire.

The "processes" of the first tests are apps with their own ``RedisBroker`` served in memory; the
last one runs a real server in an OS process, kills it with SIGKILL (no leave is announced), and
watches its entry disappear within ``presence_ttl``. Real clock, every wait bounded.
"""

from __future__ import annotations

import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Annotated, Any

import pytest
import trio
from test_redis_broker import (  # the real redis-server fixtures
    REDIS_SERVER,
    WAIT,
    RedisProcess,
    channel,
    free_port,
    redis_server,
    ws_receive,
    ws_send,
)
from trio_websocket import open_websocket

from trio_socketapi import Connection, SocketAPI
from trio_socketapi.testing import open_test_server

__all__ = ["channel", "redis_server"]  # fixtures, used by name

pytestmark = [
    pytest.mark.skipif(REDIS_SERVER is None, reason="no redis-server binary"),
    pytest.mark.filterwarnings("ignore:Unclosed <MemoryObject:ResourceWarning"),
]

PRESENCE_TTL = 1.0

APP_SOURCE = """
from typing import Annotated
from trio_socketapi import Connection, RequiredOnSubscribe, SocketAPI
from trio_socketapi.redis import RedisBroker

def build(url: str, channel: str, presence_ttl: float, port: int = 1) -> SocketAPI:
    broker = RedisBroker(url, channel=channel, timeout=2.0, reconnect_delay=0.05,
                         max_reconnect_delay=0.5, presence_ttl=presence_ttl)
    app = SocketAPI(host="127.0.0.1", port=port, broker=broker)

    @app.on_handshake
    async def sign_in(connection: Connection) -> None:
        connection.info = connection.query_params.get("user")

    @app.channel("chat_room", presence=True)
    async def chat_room(room_id: Annotated[str, RequiredOnSubscribe], text: str = "") -> str:
        return text

    return app

if __name__ == "__main__":
    import sys
    build(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])).run()
"""


def build(url: str, channel: str) -> SocketAPI:
    namespace: dict[str, Any] = {"Annotated": Annotated, "Connection": Connection}
    exec(compile(APP_SOURCE, "presence_app.py", "exec"), namespace)
    app: SocketAPI = namespace["build"](url, channel, PRESENCE_TTL, free_port())
    return app


async def users(app: SocketAPI, room: str = "a") -> list[str]:
    with trio.fail_after(WAIT):
        members = await app._registry.channels["chat_room"].presence(room_id=room)
    return sorted(members.values())


async def test_presence_is_exact_across_processes_and_join_leave_frames_cross_them(
    redis_server: RedisProcess, channel: str
) -> None:
    a, b = build(redis_server.url, channel), build(redis_server.url, channel)
    async with AsyncExitStack() as exits:
        server_a = await exits.enter_async_context(open_test_server(a))
        server_b = await exits.enter_async_context(open_test_server(b))
        ann = await exits.enter_async_context(server_a.connect("/?user=ann"))
        with trio.fail_after(WAIT):
            assert (await ann.subscribe("chat_room", {"room_id": "a"}, id=1))["type"] == (
                "subscribed"
            )
            assert (await ann.receive_json())["info"] == "ann"  # its own join, through Redis
        async with server_b.connect("/?user=bob") as bob:
            with trio.fail_after(WAIT):
                await bob.subscribe("chat_room", {"room_id": "a"}, id=1)
                joined = await ann.receive_json()
            assert (joined["type"], joined["info"]) == ("join", "bob")
            assert await users(a) == await users(b) == ["ann", "bob"]
            await trio.sleep(2 * PRESENCE_TTL)  # refreshed meanwhile: nobody expired
            assert await users(a) == ["ann", "bob"]
        with trio.fail_after(WAIT):
            left = await ann.receive_json()
        assert (left["type"], left["client"]) == ("leave", joined["client"])
        assert await users(b) == ["ann"]


async def test_a_killed_process_disappears_from_presence_within_presence_ttl(
    redis_server: RedisProcess, channel: str, tmp_path: Path
) -> None:
    (tmp_path / "presence_app.py").write_text(APP_SOURCE)
    port = free_port()
    observer = build(redis_server.url, channel)  # serves nothing: reads presence from Redis
    process = await trio.lowlevel.open_process(
        [
            sys.executable,
            "presence_app.py",
            redis_server.url,
            channel,
            str(PRESENCE_TTL),
            str(port),
        ],
        cwd=tmp_path,
    )
    try:
        with trio.fail_after(3 * WAIT):  # a Python process starts and listens
            while True:
                try:
                    probe = await trio.open_tcp_stream("127.0.0.1", port)
                except OSError:
                    await trio.sleep(0.05)
                else:
                    await probe.aclose()
                    break
        async with open_websocket("127.0.0.1", port, "/?user=doomed", use_ssl=False) as ws:
            with trio.fail_after(WAIT):
                await ws_send(ws, {"type": "subscribe", "id": 1, "channel": "chat_room",
                                   "data": {"room_id": "a"}})  # fmt: skip
                assert (await ws_receive(ws))["type"] == "subscribed"
                assert (await ws_receive(ws))["type"] == "join"  # recorded by then
            assert await users(observer) == ["doomed"]
            process.kill()
            killed_at = time.monotonic()
            with trio.fail_after(PRESENCE_TTL + WAIT):
                while await users(observer):  # noqa: ASYNC110 - polls Redis
                    await trio.sleep(0.05)
            gone_after = time.monotonic() - killed_at
            print(f"presence entry of a killed process gone after {gone_after:.2f} s")
            assert gone_after <= PRESENCE_TTL + 0.5  # the bound, plus polling and a slow machine
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()
