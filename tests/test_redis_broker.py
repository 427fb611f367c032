"""RedisBroker against a real ``redis-server``: several apps and processes behave as one.

A session fixture starts ``redis-server`` on a free loopback port, in memory only; each test
uses a Redis channel of its own, so tests never hear each other. Tests that kill or freeze Redis
get a server of their own. Everything here waits on real sockets, so these tests use trio's real
clock (the autojump clock would skip ahead while a task waits for Redis); every wait is bounded.

"Exactly once" is checked with a sentinel: Redis delivers the messages of one channel in the
order it executed the PUBLISHes, and the tests publish one after another, so the frames a
subscriber receives before the sentinel are all it will ever receive of what came before.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import attrs
import coredis
import pytest
import trio
import trustme
from helpers import free_port
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket

from trio_socketapi import PublishError, RequiredOnSubscribe, SocketAPI
from trio_socketapi._broker import Broadcast
from trio_socketapi.redis import BrokerUnavailable, RedisBroker
from trio_socketapi.testing import TestClient, TestServer, open_test_server

REDIS_SERVER = shutil.which("redis-server")

pytestmark = [
    pytest.mark.skipif(
        REDIS_SERVER is None,
        reason="no redis-server binary (Debian: apt-get install redis-server); "
        "the Redis broker is tested against a real server only",
    ),
    # coredis (6.9) opens a connection's anyio memory streams before connecting and closes them
    # only once connected, so each failed attempt leaves garbage that warns when collected.
    pytest.mark.filterwarnings("ignore:Unclosed <MemoryObject:ResourceWarning"),
]

WAIT = 10.0  # seconds: the bound on any one wait
SENTINEL = -1


# --- a real redis-server ---------------------------------------------------------------------


class RedisProcess:
    """One ``redis-server`` on 127.0.0.1 and a Unix socket, with no RDB or AOF."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.port = free_port()
        self.socket_path = directory / "redis.sock"
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (again, on the same port) and return once the server answers PING."""
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--unixsocket", str(self.socket_path),
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + WAIT
        while not self._answers_ping():
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with code {self.process.returncode}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"redis-server did not answer PING within {WAIT} s")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL, as abrupt as a crash; returns once the process is gone."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    assert REDIS_SERVER is not None
    server = RedisProcess(REDIS_SERVER, tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    """A server for this test alone, which it may kill, restart or freeze."""
    assert REDIS_SERVER is not None
    server = RedisProcess(REDIS_SERVER, tmp_path)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.signal(signal.SIGCONT)
        server.kill()


@pytest.fixture
def channel(request: pytest.FixtureRequest) -> str:
    """A Redis channel of this test's own."""
    return f"trio_socketapi:test:{request.node.name}"


# --- one app per "process" -------------------------------------------------------------------


@attrs.define
class Node:
    """One process of the deployment: its app, its broker and its channel functions."""

    app: SocketAPI
    broker: RedisBroker
    room: Any
    ticker: Any


def build_node(url: str, channel: str, *, timeout: float = 2.0) -> Node:
    broker = RedisBroker(
        url, channel=channel, timeout=timeout, reconnect_delay=0.05, max_reconnect_delay=0.5
    )
    app = SocketAPI(host="127.0.0.1", port=free_port(), broker=broker)  # nothing to forward to

    @app.channel("room")
    async def room(room: Annotated[str, RequiredOnSubscribe], text: str = "") -> dict[str, str]:
        return {"text": text}

    @app.channel("ticker")
    async def ticker(value: int = 0) -> int:
        return value

    @app.action("ping")
    async def ping() -> str:
        return "pong"

    @app.action("tick")
    async def tick(value: int) -> int:
        await ticker(value=value)
        return value

    return Node(app, broker, room, ticker)


def ticker_frame(value: int) -> dict[str, Any]:
    return {"type": "data", "channel": "ticker", "data": value}


def room_frame(room: str, text: str) -> dict[str, Any]:
    """A room's data frame as a subscriber without an ``id`` gets it (no ``params``)."""
    del room  # which room it is shows only in the text
    return {"type": "data", "channel": "room", "data": {"text": text}}


async def serve(exits: AsyncExitStack, node: Node) -> TestServer:
    """Serve ``node`` in memory until ``exits`` closes; its broker is subscribed on return.

    (Bounded by the broker's own ``timeout``: a deadline scope cannot wrap a nursery that
    stays open after it.)
    """
    return await exits.enter_async_context(open_test_server(node.app))


async def subscriber(
    exits: AsyncExitStack, server: TestServer, *subscriptions: tuple[str, Any]
) -> TestClient:
    """A client of ``server`` holding ``subscriptions`` (name, data) until ``exits`` closes."""
    client = await exits.enter_async_context(server.connect())
    with trio.fail_after(WAIT):
        for name, data in subscriptions:
            assert await client.subscribe(name, data) == {"type": "subscribed", "channel": name}
    return client


async def frames_before_sentinel(client: TestClient) -> list[Any]:
    frames = []
    with trio.fail_after(WAIT):
        while (frame := await client.receive_json()) != ticker_frame(SENTINEL):
            frames.append(frame)
    return frames


@asynccontextmanager
async def redis_messages(url: str, channel: str) -> AsyncIterator[list[bytes]]:
    """Record every message that crosses ``channel`` on Redis (a raw coredis subscriber)."""
    seen: list[bytes] = []
    async with (
        coredis.Redis.from_url(url) as client,
        client.pubsub(channels=[channel], ignore_subscribe_messages=True) as pubsub,
        trio.open_nursery() as nursery,
    ):

        async def record() -> None:
            while True:
                message = await pubsub.get_message()
                if message is not None and message["type"] == "message":
                    assert isinstance(message["data"], bytes)
                    seen.append(message["data"])

        nursery.start_soon(record)
        yield seen
        nursery.cancel_scope.cancel()


async def subscriber_count(url: str, channel: str) -> int:
    async with coredis.Redis.from_url(url) as client:
        return (await client.pubsub_numsub(channel)).get(channel.encode(), 0)


async def wait_for_subscribers(url: str, channel: str, count: int) -> None:
    """Wait until ``count`` connections are subscribed to ``channel`` (say, after a restart)."""
    with trio.fail_after(WAIT):
        while await subscriber_count(url, channel) != count:  # noqa: ASYNC110 - polls Redis
            await trio.sleep(0.02)


# --- sharing the broker ----------------------------------------------------------------------


async def test_broadcast_from_each_server_and_a_serverless_app_reaches_each_subscriber_once(
    redis_server: RedisProcess, channel: str
) -> None:
    a, b, c = (build_node(redis_server.url, channel) for _ in range(3))
    async with AsyncExitStack() as exits:
        server_a, server_b = await serve(exits, a), await serve(exits, b)
        clients = [
            await subscriber(exits, server_a, ("ticker", None)),
            await subscriber(exits, server_a, ("ticker", None)),
            await subscriber(exits, server_b, ("ticker", None)),
        ]
        crossed = await exits.enter_async_context(redis_messages(redis_server.url, channel))
        assert c.app._core.servers_running == 0 and c.app.publishes_here  # c publishes to Redis

        with trio.fail_after(WAIT):
            assert await a.ticker(value=1) == 1
            assert await b.ticker(value=2) == 2
            assert await c.ticker(value=3) == 3
            await c.ticker(value=SENTINEL)

        for client in clients:
            assert await frames_before_sentinel(client) == [
                ticker_frame(1),
                ticker_frame(2),
                ticker_frame(3),
            ]
        # One PUBLISH per broadcast, however many subscribers and servers there are.
        assert [json.loads(raw)["data"] for raw in crossed] == [1, 2, 3, SENTINEL]


async def test_scoped_broadcasts_reach_only_their_rooms_on_every_server(
    redis_server: RedisProcess, channel: str
) -> None:
    a, b, c = (build_node(redis_server.url, channel) for _ in range(3))
    async with AsyncExitStack() as exits:
        server_a, server_b = await serve(exits, a), await serve(exits, b)
        room_a_on_a = await subscriber(exits, server_a, ("room", {"room": "a"}), ("ticker", None))
        room_b_on_a = await subscriber(exits, server_a, ("room", {"room": "b"}), ("ticker", None))
        room_a_on_b = await subscriber(exits, server_b, ("room", {"room": "a"}), ("ticker", None))
        room_b_on_b = await subscriber(exits, server_b, ("room", {"room": "b"}), ("ticker", None))

        with trio.fail_after(WAIT):
            await c.room(room="a", text="from c to a")
            await a.room(room="b", text="from a to b")
            await b.room(room="a", text="from b to a")
            await c.room(room="z", text="nobody is in z")
            await c.ticker(value=SENTINEL)

        for client in (room_a_on_a, room_a_on_b):
            assert await frames_before_sentinel(client) == [
                room_frame("a", "from c to a"),
                room_frame("a", "from b to a"),
            ]
        for client in (room_b_on_a, room_b_on_b):
            assert await frames_before_sentinel(client) == [room_frame("b", "from a to b")]


async def test_a_service_in_any_language_publishes_the_documented_json(
    redis_server: RedisProcess, channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    a = build_node(redis_server.url, channel)
    async with AsyncExitStack() as exits:
        server = await serve(exits, a)
        client = await subscriber(exits, server, ("room", {"room": "a"}), ("ticker", None))
        raw_messages = [
            b"not json",
            b"[1, 2]",
            b'{"channel": 5}',
            b'{"channel": "room", "key": [1]}',
            b'{"channel": "no such channel", "data": 1}',
            b'{"channel": "room", "key": {"room": ["a"]}, "data": {"text": "bad key"}}',
            b'{"channel": "room", "key": {"room": "a"}, "data": {"text": "hello from redis"}}',
            b'{"channel": "ticker", "data": 7}',
            b'{"channel": "ticker", "key": {}}',
            b'{"channel": "ticker", "data": -1}',
        ]
        async with coredis.Redis.from_url(redis_server.url) as publisher:
            with trio.fail_after(WAIT):
                for raw in raw_messages:
                    await publisher.publish(channel, raw)

        assert await frames_before_sentinel(client) == [
            room_frame("a", "hello from redis"),
            ticker_frame(7),
            {"type": "data", "channel": "ticker"},  # no "data": as for a function returning None
        ]
        dropped = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert sum("malformed broker message" in text for text in dropped) == 4
        assert any("unknown channel 'no such channel'" in text for text in dropped)
        assert any("invalid key" in text for text in dropped)
        # The server is still serving.
        with trio.fail_after(WAIT):
            assert (await client.action("ping"))["data"] == "pong"


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="no redis-cli binary")
async def test_redis_cli_publishes_to_subscribers(redis_server: RedisProcess, channel: str) -> None:
    a = build_node(redis_server.url, channel)
    async with AsyncExitStack() as exits:
        client = await subscriber(exits, await serve(exits, a), ("room", {"room": "a"}))
        message = '{"channel": "room", "key": {"room": "a"}, "data": {"text": "from the shell"}}'
        with trio.fail_after(WAIT):
            await trio.run_process(
                ["redis-cli", "-p", str(redis_server.port), "PUBLISH", channel, message],
                capture_stdout=True,
            )
            assert await client.receive_json() == room_frame("a", "from the shell")


async def test_a_key_naming_an_unknown_parameter_is_dropped_not_widened_to_every_room(
    redis_server: RedisProcess, channel: str
) -> None:
    a = build_node(redis_server.url, channel)
    async with AsyncExitStack() as exits:
        client = await subscriber(
            exits, await serve(exits, a), ("room", {"room": "a"}), ("ticker", None)
        )
        async with coredis.Redis.from_url(redis_server.url) as publisher:
            with trio.fail_after(WAIT):
                await publisher.publish(
                    channel, b'{"channel": "room", "key": {"rom": "b"}, "data": {"text": "typo"}}'
                )
                await publisher.publish(channel, b'{"channel": "ticker", "data": -1}')
        client_frames = await frames_before_sentinel(client)
        assert room_frame("a", "typo") not in client_frames


async def test_broadcast_from_a_separate_os_process_reaches_subscribers_of_real_servers(
    redis_server: RedisProcess, channel: str, tmp_path: Path
) -> None:
    script = tmp_path / "cron_job.py"
    script.write_text(
        "import functools, sys\n"
        "import trio\n"
        "from trio_socketapi import SocketAPI\n"
        "from trio_socketapi.redis import RedisBroker\n"
        "url, channel, value = sys.argv[1], sys.argv[2], int(sys.argv[3])\n"
        "app = SocketAPI(host='127.0.0.1', port=1, broker=RedisBroker(url, channel=channel))\n"
        "@app.channel('ticker')\n"
        "async def ticker(value: int) -> int:\n"
        "    return value\n"
        "trio.run(functools.partial(ticker, value=value))\n"
    )
    a, b = build_node(redis_server.url, channel), build_node(redis_server.url, channel)
    async with trio.open_nursery() as nursery:
        ports = [await nursery.start(node.app.serve, "127.0.0.1", 0) for node in (a, b)]
        async with AsyncExitStack() as exits:
            sockets = [
                await exits.enter_async_context(
                    open_websocket("127.0.0.1", port, "/", use_ssl=False)
                )
                for port in ports
            ]
            with trio.fail_after(WAIT):
                for ws in sockets:
                    await ws_send(ws, {"type": "subscribe", "channel": "ticker"})
                    assert await ws_receive(ws) == {"type": "subscribed", "channel": "ticker"}
            with trio.fail_after(3 * WAIT):  # a Python process starts, imports, publishes
                for value in (9, SENTINEL):
                    await trio.run_process(
                        [sys.executable, str(script), redis_server.url, channel, str(value)]
                    )
            with trio.fail_after(WAIT):
                for ws in sockets:
                    assert await ws_receive(ws) == ticker_frame(9)
                    assert await ws_receive(ws) == ticker_frame(SENTINEL)
        nursery.cancel_scope.cancel()


async def ws_send(ws: WebSocketConnection, message: Any) -> None:
    await ws.send_message(json.dumps(message))


async def ws_receive(ws: WebSocketConnection) -> Any:
    return json.loads(await ws.get_message())


async def test_a_unix_socket_url_works(redis_server: RedisProcess, channel: str) -> None:
    a = build_node(f"unix://{redis_server.socket_path}?db=0", channel)
    async with AsyncExitStack() as exits:
        client = await subscriber(exits, await serve(exits, a), ("ticker", None))
        with trio.fail_after(WAIT):
            await a.ticker(value=5)
            assert await client.receive_json() == ticker_frame(5)


# --- faults ----------------------------------------------------------------------------------


async def test_servers_outlive_a_redis_restart_and_resubscribe(
    own_redis_server: RedisProcess, channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = own_redis_server.url
    a, b, c = (build_node(url, channel) for _ in range(3))
    async with AsyncExitStack() as exits:
        server_a, server_b = await serve(exits, a), await serve(exits, b)
        on_a = await subscriber(exits, server_a, ("ticker", None))
        on_b = await subscriber(exits, server_b, ("ticker", None))
        with trio.fail_after(WAIT):
            await a.ticker(value=1)
            await c.ticker(value=SENTINEL)
        for client in (on_a, on_b):
            assert await frames_before_sentinel(client) == [ticker_frame(1)]

        own_redis_server.kill()

        with trio.fail_after(WAIT):
            # Broadcasts fail at once, from a server's side and from a serverless process.
            with pytest.raises(BrokerUnavailable, match="cannot reach Redis at redis://127"):
                await a.ticker(value=2)
            with pytest.raises(PublishError, match="broadcast to 'ticker' lost"):
                await c.ticker(value=2)
            # Actions, subscriptions and errors keep working.
            assert await on_a.action("ping") == {
                "type": "action",
                "channel": "ping",
                "status": "completed",
                "data": "pong",
            }
            reply = await on_b.action("tick", {"value": 2})
            assert reply["type"] == "error" and "cannot reach Redis" in reply["message"]
        late = await subscriber(exits, server_b, ("ticker", None))

        await trio.to_thread.run_sync(own_redis_server.start)
        await wait_for_subscribers(url, channel, 2)

        with trio.fail_after(WAIT):
            assert (await on_a.action("tick", {"value": 3}))["data"] == 3
            await c.ticker(value=SENTINEL)
        for client in (on_a, on_b, late):
            assert await frames_before_sentinel(client) == [ticker_frame(3)]

    warnings = [r.getMessage() for r in caplog.records if r.name == "trio_socketapi"]
    assert any(f"Redis at {url} unreachable" in text for text in warnings)
    assert sum(f"resubscribed to Redis at {url}" in text for text in warnings) == 2


async def test_a_frozen_redis_fails_broadcasts_within_the_timeout_and_is_left_behind(
    own_redis_server: RedisProcess, channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = own_redis_server.url
    a = build_node(url, channel, timeout=0.5)
    a.broker.ping_interval = 1.0  # notice a dead subscription within ping_interval + timeout
    async with AsyncExitStack() as exits:
        client = await subscriber(exits, await serve(exits, a), ("ticker", None))
        with trio.fail_after(WAIT):
            await a.ticker(value=0)  # the publishing connection is open, then Redis freezes
            assert await client.receive_json() == ticker_frame(0)
        own_redis_server.signal(signal.SIGSTOP)
        with trio.fail_after(WAIT):
            started = trio.current_time()
            with pytest.raises(BrokerUnavailable, match=r"Redis at .* broadcast to 'ticker' lost"):
                await a.ticker(value=1)
            assert trio.current_time() - started < 2
            with pytest.raises(BrokerUnavailable):  # and a new connection does not hang either
                await build_node(url, channel, timeout=0.5).ticker(value=1)
            assert trio.current_time() - started < 4
            while not any("unreachable" in r.getMessage() for r in caplog.records):  # noqa: ASYNC110
                await trio.sleep(0.05)
        own_redis_server.signal(signal.SIGCONT)
        await wait_for_subscribers(url, channel, 1)
        with trio.fail_after(WAIT):
            await a.ticker(value=2)
            await a.ticker(value=SENTINEL)
        # The timed-out PUBLISH may still have run once Redis woke up, but never twice.
        assert (await frames_before_sentinel(client))[-1:] == [ticker_frame(2)]


async def test_redis_down_at_start_is_a_clear_error(channel: str) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    broker = RedisBroker(nowhere, channel=channel, timeout=2.0)
    reports: list[object] = []
    with trio.fail_after(WAIT):
        with pytest.raises(BrokerUnavailable, match=f"cannot reach Redis at {nowhere}"):
            await broker.run(print, task_status=ReportRecorder(reports))
        assert reports == []  # it never reported started

        app = build_node(nowhere, channel).app
        with pytest.raises(BrokerUnavailable, match=f"cannot reach Redis at {nowhere}"):
            await app.serve("127.0.0.1", 0)
        with pytest.raises(BrokerUnavailable, match=f"cannot reach Redis at {nowhere}"):
            async with open_test_server(app):
                pass  # pragma: no cover
        assert app._core.servers_running == 0


class ReportRecorder:
    """A ``task_status`` that records what is reported."""

    def __init__(self, reports: list[object]) -> None:
        self.reports = reports

    def started(self, value: object = None) -> None:
        self.reports.append(value)


async def test_a_redis_that_accepts_but_never_answers_cannot_hang_run_or_publish(
    channel: str,
) -> None:
    async def silent(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio.serve_tcp, silent, 0)
        port = listeners[0].socket.getsockname()[1]
        broker = RedisBroker(f"redis://127.0.0.1:{port}/0", channel=channel, timeout=0.3)
        with trio.fail_after(WAIT):
            with pytest.raises(BrokerUnavailable):
                await broker.publish(Broadcast("ticker", {}, b"1"))
            with pytest.raises(BrokerUnavailable):
                await broker.run(print)
        nursery.cancel_scope.cancel()


async def test_publish_with_redis_down_and_no_server_raises_a_publish_error(
    channel: str,
) -> None:
    c = build_node(f"redis://127.0.0.1:{free_port()}/0", channel)
    with trio.fail_after(WAIT), pytest.raises(PublishError) as raised:
        await c.ticker(value=1)
    assert isinstance(raised.value, BrokerUnavailable)


async def test_cancelling_run_unsubscribes_and_leaves_no_connection_behind(
    redis_server: RedisProcess, channel: str
) -> None:
    broker = RedisBroker(redis_server.url, channel=channel)
    received: list[Broadcast] = []
    arrived = trio.Event()

    def receiver(broadcast: Broadcast) -> None:
        received.append(broadcast)
        arrived.set()

    with trio.fail_after(WAIT):
        async with trio.open_nursery() as nursery:
            await nursery.start(broker.run, receiver)
            assert await subscriber_count(redis_server.url, channel) == 1
            await broker.publish(Broadcast("ticker", {"a": 1}, b"[1]"))
            await arrived.wait()
            nursery.cancel_scope.cancel()
        assert received == [Broadcast("ticker", {"a": 1}, b"[1]")]
        assert await subscriber_count(redis_server.url, channel) == 0
        # With no subscription left, publish opens a connection of its own, and closes it.
        await broker.publish(Broadcast("ticker", {}, None))


async def test_a_receiver_that_raises_is_logged_and_the_next_broadcast_still_arrives(
    redis_server: RedisProcess, channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    broker = RedisBroker(redis_server.url, channel=channel)
    received: list[Broadcast] = []
    arrived = trio.Event()

    def receiver(broadcast: Broadcast) -> None:
        if broadcast.channel == "boom":
            raise RuntimeError("receiver bug")
        received.append(broadcast)
        arrived.set()

    with trio.fail_after(WAIT):
        async with trio.open_nursery() as nursery:
            await nursery.start(broker.run, receiver)
            await broker.publish(Broadcast("boom", {}, None))
            await broker.publish(Broadcast("ticker", {}, b"2"))
            await arrived.wait()
            nursery.cancel_scope.cancel()
    assert received == [Broadcast("ticker", {}, b"2")]
    assert any("delivering a broadcast to 'boom' failed" in r.getMessage() for r in caplog.records)


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:6379", "redis://", "127.0.0.1:6379", "unix://", "redis://h:port/0"],
)
def test_a_url_that_is_not_redis_is_refused_at_construction(url: str) -> None:
    with pytest.raises(ValueError):
        RedisBroker(url)


async def test_errors_and_logs_never_show_the_password(channel: str) -> None:
    broker = RedisBroker(f"redis://user:s3cret@127.0.0.1:{free_port()}/0", channel=channel)
    assert "s3cret" not in repr(broker)
    with trio.fail_after(WAIT), pytest.raises(BrokerUnavailable) as raised:
        await broker.run(print)
    assert "s3cret" not in str(raised.value) and "user:***@127.0.0.1" in str(raised.value)


def test_the_broker_is_shared_so_a_serverless_process_publishes_to_it() -> None:
    assert RedisBroker().is_shared
    assert SocketAPI(broker=RedisBroker()).publishes_here


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
async def test_workers_share_one_port_and_every_subscriber_gets_a_broadcast_once(
    redis_server: RedisProcess, channel: str, tmp_path: Path, tls: bool
) -> None:
    (tmp_path / "workers_app.py").write_text(
        "import os\n"
        "from trio_socketapi import SocketAPI\n"
        "from trio_socketapi.redis import RedisBroker\n"
        "app = SocketAPI(broker=RedisBroker(os.environ['URL'], channel=os.environ['CHANNEL']))\n"
        "@app.channel('ticker')\n"
        "async def ticker(value: int = 0) -> int:\n"
        "    return value\n"
    )
    port = free_port()
    env = {**os.environ, "URL": redis_server.url, "CHANNEL": channel}
    tls_flags: list[str] = []
    client_tls: ssl.SSLContext | bool = False
    if tls:  # the certificate flags reach every worker
        authority = trustme.CA()
        certfile = tmp_path / "server.pem"
        authority.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
            str(certfile)
        )
        tls_flags = ["--ssl-certfile", str(certfile)]
        client_tls = ssl.create_default_context()
        authority.configure_trust(client_tls)
    supervisor = await trio.lowlevel.open_process(
        [sys.executable, "-m", "trio_socketapi", "workers_app:app", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "2", "--log-level", "warning", *tls_flags],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    try:
        children = Path(f"/proc/{supervisor.pid}/task/{supervisor.pid}/children")
        with trio.fail_after(3 * WAIT):
            await wait_for_subscribers(redis_server.url, channel, 2)  # both workers are up
        assert len((await trio.Path(children).read_text()).split()) == 2
        publisher = build_node(redis_server.url, channel)  # no server: publishes to Redis
        async with AsyncExitStack() as exits:
            sockets = [
                await exits.enter_async_context(
                    open_websocket("127.0.0.1", port, "/", use_ssl=client_tls)
                )
                for _ in range(8)
            ]
            with trio.fail_after(WAIT):
                for ws in sockets:
                    await ws_send(ws, {"type": "subscribe", "channel": "ticker"})
                    assert await ws_receive(ws) == {"type": "subscribed", "channel": "ticker"}
                await publisher.app._registry.channels["ticker"](value=7)
                await publisher.app._registry.channels["ticker"](value=SENTINEL)
                for ws in sockets:
                    assert await ws_receive(ws) == ticker_frame(7)
                    assert await ws_receive(ws) == ticker_frame(SENTINEL)
            supervisor.send_signal(signal.SIGINT)
            with trio.fail_after(WAIT):
                for ws in sockets:
                    with pytest.raises(ConnectionClosed) as closed:
                        await ws.get_message()
                    assert closed.value.reason is not None
                    assert closed.value.reason.code == 1001
        with trio.fail_after(10):
            assert await supervisor.wait() == 0
    finally:
        if supervisor.returncode is None:
            supervisor.kill()
            with trio.CancelScope(shield=True):
                await supervisor.wait()


def test_workers_without_a_shared_broker_are_refused_with_a_clear_message(
    tmp_path: Path,
) -> None:
    (tmp_path / "plain_app.py").write_text(
        "from trio_socketapi import SocketAPI\napp = SocketAPI()\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "trio_socketapi", "plain_app:app", "--workers", "2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
    assert "needs a shared broker" in done.stderr
