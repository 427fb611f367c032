"""History and recovery on Redis (docs/history.md): several servers, one numbering.

Each "process" is an app with its own ``RedisBroker`` served in memory (as in
test_redis_broker.py, whose real ``redis-server`` fixtures are reused); frames cross Redis, so
these tests run on the real clock with every wait bounded.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Annotated, Any

import coredis
import pytest
import trio
from test_redis_broker import (  # the real redis-server fixtures
    REDIS_SERVER,
    WAIT,
    RedisProcess,
    channel,
    free_port,
    own_redis_server,
    redis_server,
    wait_for_subscribers,
)

from trio_socketapi import History, RequiredOnSubscribe, SocketAPI
from trio_socketapi.redis import RedisBroker
from trio_socketapi.testing import TestClient, TestServer, open_test_server

__all__ = ["channel", "own_redis_server", "redis_server"]  # fixtures, used by name

pytestmark = [
    pytest.mark.skipif(REDIS_SERVER is None, reason="no redis-server binary"),
    pytest.mark.filterwarnings("ignore:Unclosed <MemoryObject:ResourceWarning"),
]


def build_app(url: str, channel: str, *, size: int = 10, ttl: float = 60) -> SocketAPI:
    broker = RedisBroker(
        url, channel=channel, timeout=2.0, reconnect_delay=0.05, max_reconnect_delay=0.5
    )
    app = SocketAPI(host="127.0.0.1", port=free_port(), broker=broker)

    @app.channel("chat_room", default_response=True, history=History(size=size, ttl=ttl))
    async def chat_room(
        room_id: Annotated[str, RequiredOnSubscribe] = "lobby", text: str = "welcome"
    ) -> str:
        return text

    @app.action("ping")
    async def ping() -> str:
        return "pong"

    return app


async def publish(app: SocketAPI, *texts: str, room: str | None = "a") -> None:
    handler = app._registry.channels["chat_room"]
    with trio.fail_after(WAIT):
        for text in texts:
            if room is None:
                await handler(text=text)
            else:
                await handler(room_id=room, text=text)


async def subscribe(
    client: TestClient, room: str = "a", since: dict[str, Any] | None = None, id: int = 1
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "subscribe",
        "id": id,
        "channel": "chat_room",
        "data": {"room_id": room},
    }
    if since is not None:
        message["since"] = since
    with trio.fail_after(WAIT):
        await client.send_json(message)
        reply: dict[str, Any] = await client.receive_json()
    return reply


async def receive(client: TestClient, count: int) -> list[tuple[int, str]]:
    """The next ``count`` data frames as ``(offset, data)``."""
    with trio.fail_after(WAIT):
        frames = [await client.receive_json() for _ in range(count)]
    assert all(f["type"] == "data" for f in frames), frames
    return [(f["offset"], f["data"]) for f in frames]


async def serve(exits: AsyncExitStack, app: SocketAPI) -> TestServer:
    return await exits.enter_async_context(open_test_server(app))


async def test_offsets_are_one_numbering_across_processes_and_history_is_shared(
    redis_server: RedisProcess, channel: str
) -> None:
    a, b = build_app(redis_server.url, channel), build_app(redis_server.url, channel)
    async with AsyncExitStack() as exits:
        on_a = await exits.enter_async_context((await serve(exits, a)).connect())
        on_b = await exits.enter_async_context((await serve(exits, b)).connect())
        reply_a, reply_b = await subscribe(on_a), await subscribe(on_b)
        assert (reply_a["offset"], reply_b["offset"]) == (0, 0)
        assert reply_a["epoch"] == reply_b["epoch"]
        for client in (on_a, on_b):
            assert (await client.receive_json())["data"] == "welcome"
        await publish(a, "from a")
        await publish(b, "from b")
        await publish(a, "a again")
        expected = [(1, "from a"), (2, "from b"), (3, "a again")]
        assert await receive(on_a, 3) == expected
        assert await receive(on_b, 3) == expected
        for app in (a, b):
            kept = await app._registry.channels["chat_room"].history(room_id="a")
            assert [(p.offset, p.data) for p in kept] == expected


async def test_a_client_recovers_on_another_process(
    redis_server: RedisProcess, channel: str
) -> None:
    a, b = build_app(redis_server.url, channel), build_app(redis_server.url, channel)
    async with AsyncExitStack() as exits:
        server_a, server_b = await serve(exits, a), await serve(exits, b)
        async with server_a.connect() as client:
            epoch = (await subscribe(client))["epoch"]
            await client.receive_json()
            await publish(b, "m1")
            assert await receive(client, 1) == [(1, "m1")]
        await publish(a, "m2", "m3")  # missed
        async with server_b.connect() as client:
            reply = await subscribe(client, since={"offset": 1, "epoch": epoch}, id=5)
            assert reply == {"type": "subscribed", "channel": "chat_room", "id": 5,
                             "recovered": True, "offset": 3, "epoch": epoch}  # fmt: skip
            await publish(a, "m4")
            assert await receive(client, 3) == [(2, "m2"), (3, "m3"), (4, "m4")]


async def test_history_keeps_the_newest_size_across_processes(
    redis_server: RedisProcess, channel: str
) -> None:
    a, b = (
        build_app(redis_server.url, channel, size=3),
        build_app(redis_server.url, channel, size=3),
    )
    async with AsyncExitStack() as exits:
        server_b = await serve(exits, b)
        await serve(exits, a)
        await publish(a, "m1", "m2", "m3", "m4", "m5")
        kept = await b._registry.channels["chat_room"].history(room_id="a", limit=10)
        assert [(p.offset, p.data) for p in kept] == [(3, "m3"), (4, "m4"), (5, "m5")]
        async with server_b.connect() as client:
            epoch = kept[0].epoch
            assert (await subscribe(client, since={"offset": 1, "epoch": epoch}))[
                "recovered"
            ] is False
            assert (await client.receive_json())["data"] == "welcome"
            reply = await subscribe(client, since={"offset": 2, "epoch": epoch}, id=2)
            assert reply["recovered"] is True
            assert await receive(client, 3) == [(3, "m3"), (4, "m4"), (5, "m5")]


async def test_a_broadcast_naming_no_key_is_numbered_in_every_live_stream_on_redis(
    redis_server: RedisProcess, channel: str
) -> None:
    a, b = build_app(redis_server.url, channel), build_app(redis_server.url, channel)
    async with AsyncExitStack() as exits:
        server_a = await serve(exits, a)
        await serve(exits, b)
        await publish(a, "a1", room="a")
        async with server_a.connect() as client:
            await subscribe(client, room="b")
            await client.receive_json()
            await publish(b, "to all", room=None)
            assert await receive(client, 1) == [(1, "to all")]
        kept = await a._registry.channels["chat_room"].history(room_id="a")
        assert [(p.offset, p.data) for p in kept] == [(1, "a1"), (2, "to all")]


async def test_redis_restarted_without_persistence_means_a_new_epoch_and_not_recovered(
    own_redis_server: RedisProcess, channel: str
) -> None:
    url = own_redis_server.url
    a = build_app(url, channel)
    async with AsyncExitStack() as exits:
        server = await serve(exits, a)
        async with server.connect() as client:
            epoch = (await subscribe(client))["epoch"]
            await client.receive_json()
            await publish(a, "m1", "m2")
            assert await receive(client, 2) == [(1, "m1"), (2, "m2")]
        own_redis_server.kill()
        await trio.to_thread.run_sync(own_redis_server.start)
        await wait_for_subscribers(url, channel, 1)
        await publish(a, "after restart")
        async with server.connect() as client:
            reply = await subscribe(client, since={"offset": 2, "epoch": epoch})
            assert reply["recovered"] is False and reply["epoch"] != epoch
            assert reply["offset"] == 1
            assert (await client.receive_json())["data"] == "welcome"


async def test_with_redis_down_a_history_subscribe_is_an_error_and_the_connection_lives(
    own_redis_server: RedisProcess, channel: str
) -> None:
    a = build_app(own_redis_server.url, channel)
    async with AsyncExitStack() as exits:
        server = await serve(exits, a)
        client = await exits.enter_async_context(server.connect())
        own_redis_server.kill()
        reply = await subscribe(client, id=3)
        assert reply["type"] == "error" and reply["id"] == 3
        assert "history of 'chat_room' unavailable" in reply["message"]
        with trio.fail_after(WAIT):
            assert (await client.action("ping"))["data"] == "pong"


async def test_publish_and_record_cross_redis_as_one_script_with_the_documented_keys(
    redis_server: RedisProcess, channel: str
) -> None:
    a = build_app(redis_server.url, channel, size=2)
    async with AsyncExitStack() as exits:
        await serve(exits, a)
        await publish(a, "m1", "m2", "m3")
        async with coredis.Redis.from_url(redis_server.url, decode_responses=True) as redis:
            meta = await redis.hgetall(f'{channel}:m:["chat_room","{{\\"room_id\\":\\"a\\"}}"]')
            assert meta["offset"] == "3"
            stream = f'{channel}:s:["chat_room","{{\\"room_id\\":\\"a\\"}}"]'
            entries = await redis.xrange(stream)
            assert [e.identifier for e in entries] == ["2-0", "3-0"]
            assert [e.field_values["d"] for e in entries] == ['"m2"', '"m3"']
            assert 0 < await redis.pttl(stream) <= 60_000
