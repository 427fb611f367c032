"""Who gets in: origins, paths, the connection limit, the handshake hook, timeouts, TLS."""

from __future__ import annotations

import base64
import json
import os
import ssl

import pytest
import trio
import trio.testing
import trustme
from trio_websocket import ConnectionRejected, open_websocket

from trio_socketapi import Connection, HandshakeRefused, Settings, SocketAPI
from trio_socketapi._handshake import LOOPBACK_HOSTS, host_allowed, origin_allowed
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
        client_stream = await server.open_stream()
        start = trio.current_time()
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
            client_stream = await server.open_stream()
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


@pytest.mark.parametrize(
    ("host", "allowed", "expected"),
    [
        ("localhost:8000", LOOPBACK_HOSTS, True),
        ("LOCALHOST.", LOOPBACK_HOSTS, True),
        ("app.localhost:8000", LOOPBACK_HOSTS, True),
        ("127.0.0.1:8000", LOOPBACK_HOSTS, True),
        ("127.1.2.3", LOOPBACK_HOSTS, True),
        ("[::1]:8000", LOOPBACK_HOSTS, True),
        ("[0:0::1]", LOOPBACK_HOSTS, True),
        ("::1", LOOPBACK_HOSTS, True),
        ("::1:8000", LOOPBACK_HOSTS, True),
        ("fe80::1:8000", LOOPBACK_HOSTS, False),
        ("evil.example:8000", LOOPBACK_HOSTS, False),
        ("localhost.evil.example", LOOPBACK_HOSTS, False),
        ("10.0.0.1:8000", LOOPBACK_HOSTS, False),
        ("[::2]:8000", LOOPBACK_HOSTS, False),
        (None, LOOPBACK_HOSTS, False),
        ("", LOOPBACK_HOSTS, False),
        ("api.example:443", ("api.example",), True),
        ("API.Example", ("api.example",), True),
        ("www.api.example", ("api.example",), False),
        ("www.api.example", ("*.api.example",), True),
        ("api.example", ("*.api.example",), False),
        ("evilapi.example", ("*.api.example",), False),
        ("10.1.2.3:80", ("10.0.0.0/8",), True),
        ("11.1.2.3:80", ("10.0.0.0/8",), False),
        ("anything.example", "*", True),
        (None, "*", True),
        ("anything.example", ("api.example", "*"), True),
    ],
)
def test_host_rule(host: str | None, allowed: tuple[str, ...] | str, expected: bool) -> None:
    assert host_allowed(host, allowed) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad", ["http://api.example", "api.example:8000", "", "10.0.0.0/33", ["api.example", 3]]
)
def test_allowed_hosts_that_cannot_match_a_host_name_are_refused_at_once(bad: object) -> None:
    with pytest.raises(ValueError, match="allowed_hosts"):
        Settings(allowed_hosts=bad)  # type: ignore[arg-type]


async def raw_handshake(port: int, host: str, origin: str | None = None) -> bytes:
    """Send an upgrade request to 127.0.0.1:``port`` with these headers; return the status line."""
    key = base64.b64encode(os.urandom(16)).decode()
    head = (
        f"GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    )
    if origin is not None:
        head += f"Origin: {origin}\r\n"
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(f"{head}\r\n".encode())
        received = b""
        while b"\r\n" not in received:
            chunk = await stream.receive_some()
            if not chunk:
                break
            received += chunk
    return received.partition(b"\r\n")[0]


async def test_on_loopback_a_foreign_host_is_refused_with_400_against_dns_rebinding() -> None:
    # A page on evil.example whose name was rebound to 127.0.0.1: Host and Origin agree, so the
    # origin check alone lets it in; the Host names a site the loopback server is not.
    app = make_app()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(app.serve, "127.0.0.1", 0)
            status = await raw_handshake(
                port, f"evil.example:{port}", origin=f"http://evil.example:{port}"
            )
            assert status.startswith(b"HTTP/1.1 400 ")
            assert app.counters.handshakes_refused == 1
            for name in (f"localhost:{port}", f"127.0.0.1:{port}"):
                status = await raw_handshake(port, name, origin=f"http://{name}")
                assert status.startswith(b"HTTP/1.1 101 ")
            assert app.counters.handshakes_refused == 1
            nursery.cancel_scope.cancel()


async def test_allowed_hosts_on_loopback_replace_the_loopback_default() -> None:
    app = make_app(Settings(allowed_hosts=["api.example"]))
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(app.serve, "127.0.0.1", 0)
            assert (await raw_handshake(port, f"127.0.0.1:{port}")).startswith(b"HTTP/1.1 400 ")
            assert (await raw_handshake(port, "api.example")).startswith(b"HTTP/1.1 101 ")
            nursery.cancel_scope.cancel()


async def test_off_loopback_any_host_is_served_unless_allowed_hosts_lists_them(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # An in-memory server is not on loopback: by default it answers to any Host (the test
    # client sends "testserver"); with a list only those, and "*" any again.
    with trio.fail_after(10):
        async with open_test_server(make_app()) as server:
            await assert_serves(server)
        app = make_app(Settings(allowed_hosts=["api.example", "*.api.example"]))
        async with open_test_server(app) as server:
            with pytest.raises(ConnectionRejected) as rejected:
                async with server.connect(headers={"Origin": "http://testserver"}):
                    pass  # pragma: no cover
            assert rejected.value.status_code == 400
            assert rejected.value.body == b"Invalid Host header"
            assert app.counters.handshakes_refused == 1
        async with open_test_server(make_app(Settings(allowed_hosts="*"))) as server:
            await assert_serves(server)


async def exchange_head(port: int, head: str) -> bytes:
    """Send ``head`` to 127.0.0.1:``port`` and read the whole answer until the server closes."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(head.encode())
        received = b""
        while (chunk := await stream.receive_some()) and len(received) < 65536:
            received += chunk
    return received


@pytest.mark.parametrize(
    ("header", "value", "status", "says"),
    [
        # A missing key: 400, and the body names the header.
        ("Sec-WebSocket-Key", None, b"400", b"Sec-WebSocket-Key"),
        # A version the server does not speak: 426, with the version it does speak.
        ("Sec-WebSocket-Version", "8", b"426", b"sec-websocket-version: 13\r\n"),
    ],
)
async def test_a_malformed_upgrade_request_is_told_what_is_wrong_and_the_server_serves_on(
    header: str, value: str | None, status: bytes, says: bytes
) -> None:
    app = make_app()
    key = base64.b64encode(os.urandom(16)).decode()
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key,
        "Sec-WebSocket-Version": "13",
    }
    if value is None:
        del headers[header]
    else:
        headers[header] = value
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(app.serve, "127.0.0.1", 0)
            lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            head = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{lines}\r\n"
            answer = await exchange_head(port, head)
            status_line, _, rest = answer.partition(b"\r\n")
            assert status_line.startswith(b"HTTP/1.1 " + status)
            assert b"content-type: text/plain; charset=utf-8" in rest.lower()
            assert says.lower() in rest.lower()
            assert status != b"426" or b"Unsupported Sec-WebSocket-Version" in rest
            assert (await raw_handshake(port, f"127.0.0.1:{port}")).startswith(b"HTTP/1.1 101 ")
            nursery.cancel_scope.cancel()
