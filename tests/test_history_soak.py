"""Soak: no publication lost across dropped connections and a restarted server (issue 16, §5).

Clients of the Python client subscribe to two rooms each of a history channel; one publisher per
room group publishes numbered messages at a steady rate; a chaos task cuts client connections at
random (the transport closed, no close frame), and the clients reconnect and recover on their
own; midway one server is restarted. At the end each room gets a last message and every feed is
read up to it. Asserted, from the data itself (``seq`` numbers per room, not the offsets):

* every stretch of a feed between two ``NotRecovered`` is consecutive: each publication of the
  room exactly once, in order;
* ``NotRecovered`` is raised exactly when history could not cover the reconnect: in memory, once
  per feed, for the restart (the restarted process has lost the history); on Redis (two
  servers, each its own app and ``RedisBroker``, one restarted) never: any server recovers any
  client from Redis;
* every feed ends with the room's last message.

The counts are printed (``-s``). Size by environment; the default keeps the suite's run short::

    HISTORY_SOAK_CLIENTS=200 HISTORY_SOAK_SECONDS=20 pytest tests/test_history_soak.py -s

(``nox -s soak`` runs that.) In memory the run is under the autojump clock (virtual seconds); on
Redis the clock is real.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Annotated, Any

import attrs
import pytest
import trio
import trio.testing
from test_redis_broker import REDIS_SERVER, RedisProcess, redis_server

from trio_socketapi import History, RequiredOnSubscribe, SocketAPI
from trio_socketapi.client import NotRecovered, Reconnect, connect
from trio_socketapi.testing import TestServer, open_test_server

__all__ = ["redis_server"]  # a fixture, used by name

CLIENTS = int(os.environ.get("HISTORY_SOAK_CLIENTS", "20"))
SECONDS = float(os.environ.get("HISTORY_SOAK_SECONDS", "3"))
SEED = int(os.environ.get("HISTORY_SOAK_SEED", "1602"))
ROOMS = [f"r{i}" for i in range(4)]
PUBLISH_INTERVAL = 0.01  # per publisher; two publishers
CUT_INTERVAL = 0.02
FAST = Reconnect(initial_delay=0.02, max_delay=0.2, max_attempts=100)
URL = "ws://soak/"
MARK = "NOT RECOVERED"


def make_app(broker: Any = None) -> SocketAPI:
    app = SocketAPI(host="127.0.0.1", port=1, broker=broker)

    @app.channel("room", history=History(size=100_000, ttl=3600))
    async def room(name: Annotated[str, RequiredOnSubscribe], seq: int = 0) -> dict[str, Any]:
        return {"room": name, "seq": seq}

    return app


@attrs.define
class Deployment:
    """The servers behind the clients: ``slots`` servers, each restartable once."""

    factory: Callable[[], SocketAPI]
    slots: int
    live: list[tuple[TestServer, SocketAPI] | None] = attrs.field(init=False)
    restart: list[trio.Event] = attrs.field(init=False)
    restarted: trio.Event = attrs.field(factory=trio.Event)

    def __attrs_post_init__(self) -> None:
        self.live = [None] * self.slots
        self.restart = [trio.Event() for _ in range(self.slots)]

    async def run_slot(self, i: int, *, task_status: trio.TaskStatus[None]) -> None:
        app = self.factory()
        async with open_test_server(app) as server:
            self.live[i] = (server, app)
            task_status.started()
            await self.restart[i].wait()
            self.live[i] = None  # no new connection goes to the one closing
        app = self.factory()
        async with open_test_server(app) as server:
            self.live[i] = (server, app)
            self.restarted.set()
            await trio.sleep_forever()

    def app(self) -> SocketAPI | None:
        """An app whose server is up (to publish through), or ``None``."""
        up = [entry[1] for entry in self.live if entry is not None]
        return up[0] if up else None


@attrs.define
class Link:
    """One client's connector: to a random live server; ``cut`` drops the open connection."""

    deployment: Deployment
    rng: random.Random
    stream: trio.abc.Stream | None = None
    client: Any = None
    cuts: int = 0

    async def open_stream(self) -> trio.abc.Stream:
        up = [entry[0] for entry in self.deployment.live if entry is not None]
        if not up:
            raise ConnectionRefusedError("no server up")
        self.stream = await self.rng.choice(up).open_stream()
        return self.stream

    async def cut(self) -> None:
        # Only an open connection: one cut mid-handshake waits for the client's timeout.
        if self.stream is not None and self.client is not None and self.client.connected:
            stream, self.stream = self.stream, None
            self.cuts += 1
            await trio.aclose_forcefully(stream)


@attrs.define
class Counts:
    published: dict[str, int] = attrs.field(factory=lambda: dict.fromkeys(ROOMS, 0))
    feeds: dict[tuple[int, str], list[Any]] = attrs.field(factory=dict)
    reconnects: int = 0
    cuts: int = 0


async def soak(deployment: Deployment, publisher: Callable[[], SocketAPI | None]) -> Counts:
    rng = random.Random(SEED)
    counts = Counts()
    links = [Link(deployment, random.Random(rng.random())) for _ in range(CLIENTS)]
    done = trio.Event()

    async def publish(rooms: list[str]) -> None:
        while not done.is_set():
            for room in rooms:
                app = publisher()
                if app is None:
                    continue  # no server up: nothing can be published in memory
                seq = counts.published[room] + 1
                await app._registry.channels["room"](name=room, seq=seq)
                counts.published[room] = seq
            await trio.sleep(PUBLISH_INTERVAL)

    async def client(index: int, link: Link, rooms: list[str]) -> None:
        async with (
            connect(URL, connector=link.open_stream, reconnect=FAST) as c,
            trio.open_nursery() as feeds,
        ):
            link.client = c
            for room in rooms:
                feeds.start_soon(read, c, index, room)
            await finished_all.wait()
            feeds.cancel_scope.cancel()
            counts.reconnects += c.reconnects

    async def read(c: Any, index: int, room: str) -> None:
        seen = counts.feeds[index, room] = []
        async with c.subscribe("room", name=room) as feed:
            ready[index, room].set()
            while True:
                try:
                    message = await feed.receive()
                except NotRecovered:
                    seen.append(MARK)
                    continue
                seen.append(message["seq"])

    def all_read() -> bool:
        return all(
            seen and seen[-1] == counts.published[room] for (_, room), seen in counts.feeds.items()
        )

    assignments = [(i, room) for i in range(CLIENTS) for room in rng.sample(ROOMS, 2)]
    ready = {pair: trio.Event() for pair in assignments}
    finished_all = trio.Event()

    async def chaos() -> None:
        while not done.is_set():
            await trio.sleep(rng.expovariate(1 / CUT_INTERVAL))
            await rng.choice(links).cut()

    async with trio.open_nursery() as nursery:
        for i in range(deployment.slots):
            await nursery.start(deployment.run_slot, i)
        for i, link in enumerate(links):
            nursery.start_soon(client, i, link, [room for j, room in assignments if j == i])
        for event in ready.values():
            await event.wait()
        nursery.start_soon(publish, ROOMS[:2])
        nursery.start_soon(publish, ROOMS[2:])
        nursery.start_soon(chaos)
        await trio.sleep(SECONDS / 2)
        deployment.restart[0].set()
        await deployment.restarted.wait()
        await trio.sleep(SECONDS / 2)
        done.set()
        await trio.sleep(1.0)  # the publishers' last round and the last reconnects
        app = publisher()
        assert app is not None
        for room in ROOMS:  # the last message of each room
            counts.published[room] += 1
            await app._registry.channels["room"](name=room, seq=counts.published[room])
        while not all_read():  # noqa: ASYNC110 - the feeds' state is plain data
            await trio.sleep(0.05)
        finished_all.set()
        nursery.cancel_scope.cancel()
    counts.cuts = sum(link.cuts for link in links)
    return counts


def check(counts: Counts, *, not_recovered_per_feed: int) -> None:
    delivered = 0
    for (index, room), seen in counts.feeds.items():
        stretches: list[list[int]] = [[]]
        for item in seen:
            if item == MARK:
                stretches.append([])
            else:
                stretches[-1].append(item)
        for stretch in stretches:
            expected = list(range(stretch[0], stretch[0] + len(stretch))) if stretch else []
            assert stretch == expected, f"client {index} room {room}: not consecutive"
        assert seen.count(MARK) == not_recovered_per_feed, (index, room, seen.count(MARK))
        assert seen[-1] == counts.published[room]
        delivered += len(seen) - seen.count(MARK)
    print(
        f"\nhistory soak: {CLIENTS} clients, {len(counts.feeds)} feeds, "
        f"{sum(counts.published.values())} publications, {delivered} deliveries, "
        f"{counts.cuts} connections cut, {counts.reconnects} reconnects, "
        f"{sum(s.count(MARK) for s in counts.feeds.values())} not recovered"
    )


@pytest.mark.bound(SECONDS * 20 + 60)
async def test_memory_soak_with_a_server_restart(autojump_clock: trio.testing.MockClock) -> None:
    deployment = Deployment(make_app, slots=1)
    counts = await soak(deployment, deployment.app)
    # The restarted process lost the history: every feed is told so, once; nothing else is lost.
    check(counts, not_recovered_per_feed=1)
    assert counts.reconnects > counts.cuts // 2 > 0


@pytest.mark.bound(SECONDS * 20 + 60)
@pytest.mark.skipif(REDIS_SERVER is None, reason="no redis-server binary")
@pytest.mark.filterwarnings("ignore:Unclosed <MemoryObject:ResourceWarning")
async def test_redis_soak_with_two_servers_one_restarted(
    redis_server: RedisProcess, request: pytest.FixtureRequest
) -> None:
    from trio_socketapi.redis import RedisBroker

    channel = f"trio_socketapi:test:{request.node.name}"

    def factory() -> SocketAPI:
        return make_app(RedisBroker(redis_server.url, channel=channel, timeout=5.0))

    deployment = Deployment(factory, slots=2)

    def publisher() -> SocketAPI | None:
        live = deployment.live[1]  # the server that is not restarted publishes
        return None if live is None else live[1]

    counts = await soak(deployment, publisher)
    # History is in Redis: every reconnect, to either server, recovers.
    check(counts, not_recovered_per_feed=0)
    assert counts.reconnects > counts.cuts // 2 > 0
