"""Who gets in: origins, paths, the connection limit, the handshake hook, timeouts, TLS."""

from __future__ import annotations

import json
import ssl

import pytest
import trio
import trio.testing
import trustme
from trio_websocket import ConnectionRejected, open_websocket

from trio_socketapi import Connection, HandshakeRefused, Settings, SocketAPI
from trio_socketapi._handshake import origin_allowed
from trio_socketapi.testing import TestServer, open_test_server

ADD = {"type": "action", "channel": "add", "data": {"a": 1, "b": 2}}
ADDED = {"type": "action", "channel": "add", "status": "completed", "data": 3}


def make_app(settings: Settings | None = None) -> SocketAPI:
    app = SocketAPI(settings=settings)

    @app.action("add")
    async def add(a: int, b: int) -> int:
        return a + b

    @app.action("whoami")
    async def whoami(connection: Connection) -> object:
        return connection.state.get("user")

    return app


async def assert_serves(server: TestServer) -> None:
    async with server.connect() as client:
        await client.send_json(ADD)
        assert await client.receive_json() == ADDED


@pytest.mark.parametrize(
    ("origin", "host", "tls", "allowed", "expected"),
    [
        (None, "example.com", False, (), True),
        ("http://example.com", "example.com", False, (), True),
        ("http://example.com:80", "example.com", False, (), True),
        ("https://example.com", "example.com", True, (), True),
        ("https://example.com", "example.com", False, (), False),
        ("http://EXAMPLE.com:8000", "example.com:8000", False, (), True),
        ("http://evil.example", "example.com", False, (), False),
        ("http://example.com:8001", "example.com:8000", False, (), False),
        ("null", "example.com", False, (), False),
        ("http://app.example", "api.example", False, ("http://app.example",), True),
        ("http://other.example", "api.example", False, ("http://app.example",), False),
        ("http://anything.example", "api.example", False, "*", True),
    ],
)
def test_origin_rule(
    origin: str | None, host: str, tls: bool, allowed: tuple[str, ...] | str, expected: bool
) -> None:
    assert origin_allowed(origin, host, tls, allowed) is expected  # type: ignore[arg-type]


async def test_cross_site_origin_is_refused_with_403_and_others_are_unaffected(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = make_app()
    with trio.fail_after(5):
        async with open_test_server(app) as server:
            with pytest.raises(ConnectionRejected) as rejected:
                async with server.connect(headers={"Origin": "http://evil.example"}):
                    pass  # pragma: no cover
            assert rejected.value.status_code == 403
            assert app.counters.handshakes_refused == 1
            # Same origin as the Host header (the test client sends Host: testserver).
            async with server.connect(headers={"Origin": "http://testserver"}) as client:
                await client.send_json(ADD)
                assert await client.receive_json() == ADDED
            await assert_serves(server)


async def test_allowed_origins_let_a_listed_site_in() -> None:
    app = make_app(Settings(allowed_origins=["https://app.example"]))
    async with (
        open_test_server(app) as server,
        server.connect(headers={"Origin": "https://app.example"}) as client,
    ):
        await client.send_json(ADD)
        assert await client.receive_json() == ADDED


async def test_a_path_outside_allowed_paths_is_refused_with_404() -> None:
    app = make_app(Settings(allowed_paths=["/ws"]))
    async with open_test_server(app) as server:
        with pytest.raises(ConnectionRejected) as rejected:
            async with server.connect("/elsewhere"):
                pass  # pragma: no cover
        assert rejected.value.status_code == 404
        async with server.connect("/ws?x=1") as client:
            await client.send_json(ADD)
            assert await client.receive_json() == ADDED


async def test_connections_past_max_connections_are_refused_with_503() -> None:
    app = make_app(Settings(max_connections=2))
    async with open_test_server(app) as server, server.connect() as a, server.connect() as b:
        with pytest.raises(ConnectionRejected) as rejected:
            async with server.connect():
                pass  # pragma: no cover
        assert rejected.value.status_code == 503
        for client in (a, b):
            await client.send_json(ADD)
            assert await client.receive_json() == ADDED


async def test_handshake_hook_refuses_with_401_and_fills_connection_state() -> None:
    app = make_app()

    @app.on_handshake
    async def authenticate(connection: Connection) -> None:
        token = connection.query_params.get("token")
        if token != "t0ken":
            raise HandshakeRefused(401, "Unauthorized")
        connection.state["user"] = {"name": "ada", "peer": list(connection.remote or ())}

    async with open_test_server(app) as server:
        with pytest.raises(ConnectionRejected) as rejected:
            async with server.connect("/?token=wrong"):
                pass  # pragma: no cover
        assert rejected.value.status_code == 401
        assert rejected.value.body == b"Unauthorized"
        async with server.connect("/?token=t0ken") as client:
            reply = await client.action("whoami")
            assert reply["data"] == {"name": "ada", "peer": ["127.0.0.1", 50000]}


async def test_a_failing_handshake_hook_refuses_with_500_and_the_server_goes_on() -> None:
    app = make_app()
    calls = 0

    @app.on_handshake
    async def flaky(connection: Connection) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database down")

    async with open_test_server(app) as server:
        with pytest.raises(ConnectionRejected) as rejected:
            async with server.connect():
                pass  # pragma: no cover
        assert rejected.value.status_code == 500
        await assert_serves(server)


async def test_a_silent_half_open_handshake_is_dropped_after_the_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = make_app(Settings(handshake_timeout=3))
    async with open_test_server(app) as server:
        client_stream, server_stream = trio.testing.memory_stream_pair()
        start = trio.current_time()
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(server._server.handle_stream, server_stream)
                await client_stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
                assert await client_stream.receive_some() == b""  # the server hung up
        assert 3 <= trio.current_time() - start < 4


async def test_hundreds_of_half_open_handshakes_do_not_delay_a_new_client(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = make_app(Settings(handshake_timeout=60))
    async with open_test_server(app) as server:
        streams = []
        for _ in range(300):
            client_stream, server_stream = trio.testing.memory_stream_pair()
            server._nursery.start_soon(server._server.handle_stream, server_stream)
            await client_stream.send_all(b"GET / HTTP/1.1\r\n")
            streams.append(client_stream)
        with trio.fail_after(1):  # far less than the 60 s the half-open ones may take
            await assert_serves(server)


async def test_tls_serves_wss() -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    app = make_app()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(
                lambda task_status: app.serve(
                    "127.0.0.1", 0, ssl_context=server_context, task_status=task_status
                )
            )
            async with open_websocket("127.0.0.1", port, "/", use_ssl=client_context) as ws:
                await ws.send_message(json.dumps(ADD))
                assert json.loads(await ws.get_message()) == ADDED
            nursery.cancel_scope.cancel()
