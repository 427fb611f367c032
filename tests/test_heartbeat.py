"""Keepalive pings, dead peers and idle clients, on the autojump clock."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Event, Ping, Request

from trio_socketapi import Settings, SocketAPI
from trio_socketapi.testing import open_test_server

ADD = {"type": "action", "channel": "add", "data": {"a": 1, "b": 2}}
ADDED = {"type": "action", "channel": "add", "status": "completed", "data": 3}


def make_app(settings: Settings) -> SocketAPI:
    app = SocketAPI(settings=settings)

    @app.action("add")
    async def add(a: int, b: int) -> int:
        return a + b

    return app


@pytest.mark.bound(300)
async def test_a_quiet_client_that_answers_pings_stays_connected(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = make_app(Settings(ping_interval=5, ping_timeout=2))
    async with open_test_server(app) as server, server.connect() as client:
        await trio.sleep(120)  # 24 ping rounds, each answered by the client's pong
        await client.send_json(ADD)
        assert await client.receive_json() == ADDED


@pytest.mark.bound(300)
async def test_a_peer_that_stops_answering_is_pinged_then_closed_with_1008(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = make_app(Settings(ping_interval=5, ping_timeout=3, close_timeout=1))
    async with open_test_server(app) as server:
        client_stream = await server.open_stream()
        protocol = WSConnection(ConnectionType.CLIENT)
        await client_stream.send_all(protocol.send(Request(host="testserver", target="/")))
        events: list[Event] = []
        while not any(isinstance(e, AcceptConnection) for e in events):
            protocol.receive_data(await client_stream.receive_some())
            events.extend(protocol.events())
        assert app.counters.connections_open == 1
        await trio.sleep(5 * 1.25 + 3 + 1 + 0.5)  # silent: no pong, no close reply
        assert app.counters.connections_open == 0
        with trio.fail_after(1):
            while (data := await client_stream.receive_some()) != b"":
                protocol.receive_data(data)
        events = list(protocol.events())
        assert isinstance(events[0], Ping)
        assert isinstance(events[1], CloseConnection)
        assert (events[1].code, events[1].reason) == (1008, "Keepalive ping timeout.")


@pytest.mark.bound(300)
async def test_idle_timeout_closes_a_silent_client_with_1000(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = make_app(Settings(idle_timeout=30, ping_interval=None))
    async with open_test_server(app) as server, server.connect() as client:
        start = trio.current_time()
        await client.send_json(ADD)
        assert await client.receive_json() == ADDED
        reason = await client.wait_closed()
        assert (reason.code, reason.reason) == (1000, "Idle timeout.")
        assert 30 <= trio.current_time() - start < 31
