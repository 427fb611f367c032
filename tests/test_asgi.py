"""``SocketAPI`` as an ASGI app, served by hypercorn's trio worker over loopback.

In-process tests run ``hypercorn.trio.serve`` on 127.0.0.1 port 0 and talk to it with
trio-websocket clients: the same protocol exchanges as the native server (actions,
subscribe/broadcast, scoped delivery, the handshake rules, slow consumers, publishing from
outside, lifespans and background tasks, 1001 at shutdown). One test serves an app with the
``hypercorn -k trio`` command line; one runs the ASGI entry point under asyncio to show the
message it fails with there. Mounted in Starlette: tests/test_asgi_starlette.py.
"""

from __future__ import annotations

import asyncio
import functools
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import pytest
import trio
from helpers import free_port, wait_until_listening
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve
from hypercorn.utils import LifespanFailureError
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    open_websocket,
)

from trio_socketapi import Connection, HandshakeRefused, RequiredOnSubscribe, Settings, SocketAPI
from trio_socketapi._forward import forward_publish

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 20.0
"""Seconds (real: loopback TCP) any one test may take."""


@asynccontextmanager
async def hypercorn(app: Any, **options: Any) -> AsyncIterator[int]:
    """Serve ``app`` with hypercorn's trio worker on a free loopback port; yield the port."""
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.graceful_timeout = 1.0
    config.accesslog = None
    for name, value in options.items():
        setattr(config, name, value)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            functools.partial(hypercorn_serve, app, config, shutdown_trigger=stop.wait)
        )
        try:
            yield int(binds[0].rsplit(":", 1)[1])
        finally:
            stop.set()


@asynccontextmanager
async def client(
    port: int, path: str = "/", headers: list[tuple[bytes, bytes]] | None = None
) -> AsyncIterator[WebSocketConnection]:
    async with open_websocket(
        "127.0.0.1", port, path, use_ssl=False, extra_headers=headers or []
    ) as ws:
        yield ws


async def request(ws: WebSocketConnection, message: dict[str, Any]) -> Any:
    await ws.send_message(json.dumps(message))
    return json.loads(await ws.get_message())


async def receive(ws: WebSocketConnection) -> Any:
    return json.loads(await ws.get_message())


def make_app(**settings: Any) -> SocketAPI:
    app = SocketAPI(settings=Settings(**settings))

    @app.action("add")
    async def add(a: int, b: int = 0) -> int:
        return a + b

    @app.channel("room", default_response=True)
    async def room(
        room_id: Annotated[str | None, RequiredOnSubscribe] = None, text: str = "welcome"
    ) -> str:
        return text

    @app.action("say")
    async def say(room_id: str, text: str) -> None:
        await room(room_id=room_id, text=text)

    return app


PING = {"type": "action", "channel": "add", "data": {"a": 1}}
PONG = {"type": "action", "channel": "add", "status": "completed", "data": 1}


async def test_actions_answer_as_on_the_native_server() -> None:
    app = make_app()
    with trio.fail_after(TIMEOUT):
        async with hypercorn(app) as port, client(port) as ws:
            assert await request(ws, {"type": "action", "channel": "add", "data": {"a": "2"}}) == {
                "type": "action",
                "channel": "add",
                "status": "completed",
                "data": 2,
            }
            assert await request(ws, {"type": "action", "channel": "add", "data": {}}) == {
                "type": "error",
                "message": "Invalid parameters for action 'add'",
            }
            assert await request(ws, {"type": "action", "channel": "nope"}) == {
                "type": "error",
                "message": "Action 'nope' not found.",
            }
            await ws.send_message("not json")
            assert await receive(ws) == {"type": "error", "message": "Invalid JSON."}
            assert await request(ws, {**PING, "id": 7}) == {**PONG, "id": 7}


async def test_subscribe_and_scoped_broadcasts_reach_only_their_room() -> None:
    app = make_app()
    with trio.fail_after(TIMEOUT):
        async with hypercorn(app) as port, client(port) as a, client(port) as b:
            for ws, room_id in ((a, "a"), (b, "b")):
                reply = await request(
                    ws, {"type": "subscribe", "channel": "room", "data": {"room_id": room_id}}
                )
                assert reply == {"type": "subscribed", "channel": "room"}
                assert await receive(ws) == {"type": "data", "channel": "room", "data": "welcome"}
            say = {"type": "action", "channel": "say", "data": {"room_id": "a", "text": "hi"}}
            assert await request(b, say) == {
                "type": "action",
                "channel": "say",
                "status": "completed",
            }
            assert await receive(a) == {"type": "data", "channel": "room", "data": "hi"}
            assert await request(b, PING) == PONG  # room b got nothing
            room = app._registry.channels["room"]
            await room(text="everyone")  # a broadcast from the app's own process
            for ws in (a, b):
                assert await receive(ws) == {"type": "data", "channel": "room", "data": "everyone"}


async def test_publishing_from_outside_is_delivered() -> None:
    app = make_app()
    with trio.fail_after(TIMEOUT):
        async with hypercorn(app) as port, client(port) as ws:
            await request(ws, {"type": "subscribe", "channel": "room", "data": {"room_id": "a"}})
            await receive(ws)
            await forward_publish(
                "127.0.0.1", port, "room", {"room_id": "a", "text": "from outside"}, None
            )
            assert await receive(ws) == {"type": "data", "channel": "room", "data": "from outside"}


async def test_the_handshake_rules_apply_with_their_http_status() -> None:
    app = make_app(max_connections=2)

    @app.on_handshake
    async def signed_in(connection: Connection) -> None:
        if connection.query_params.get("token") == "bad":
            raise HandshakeRefused(401, "Sign in first")

    with trio.fail_after(TIMEOUT):
        async with hypercorn(app) as port:
            with pytest.raises(ConnectionRejected) as refused:
                async with client(port, headers=[(b"origin", b"https://evil.example")]):
                    pass
            assert refused.value.status_code == 403
            with pytest.raises(ConnectionRejected) as refused:
                async with client(port, "/?token=bad"):
                    pass
            assert (refused.value.status_code, refused.value.body) == (401, b"Sign in first")
            own_origin = [(b"origin", f"http://127.0.0.1:{port}".encode())]
            async with client(port, headers=own_origin) as first, client(port) as second:
                assert await request(first, PING) == PONG
                assert await request(second, PING) == PONG
                with pytest.raises(ConnectionRejected) as refused:
                    async with client(port):
                        pass
                assert refused.value.status_code == 503


async def test_a_message_over_the_size_limit_closes_with_1009() -> None:
    app = make_app(max_message_size=1000)
    with trio.fail_after(TIMEOUT):
        async with hypercorn(app) as port, client(port) as ws:
            await ws.send_message("x" * 1001)
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
            assert closed.value.reason.code == 1009


async def test_a_slow_consumer_is_closed_1013_and_the_others_keep_receiving() -> None:
    app = make_app(outbox_size=4)
    big = "x" * 256_000
    with trio.fail_after(TIMEOUT):
        async with (
            hypercorn(app) as port,
            client(port) as fast,
            open_websocket("127.0.0.1", port, "/", use_ssl=False, message_queue_size=0) as slow,
        ):
            for ws in (fast, slow):
                await ws.send_message(json.dumps({"type": "subscribe", "channel": "room"}))
                assert (await receive(ws))["type"] == "subscribed"
                await receive(ws)  # welcome
            room = app._registry.channels["room"]
            sent = 0
            # The slow client reads nothing; its socket buffers fill, then its outbox.
            while app.counters.slow_consumer_closes == 0 and sent < 400:
                await room(text=big)
                sent += 1
                assert (await receive(fast))["data"] == big
                await trio.lowlevel.checkpoint()
            assert app.counters.slow_consumer_closes == 1
            assert app.counters.subscriptions == 1  # only the fast one is left
            await room(text="after")
            assert (await receive(fast))["data"] == "after"


async def test_lifespans_and_background_tasks_run_in_the_asgi_lifespan() -> None:
    app = make_app()
    events: list[str] = []
    ticked = trio.Event()

    @app.lifespan
    async def resources() -> AsyncIterator[None]:
        events.append("setup")
        yield
        events.append("teardown")

    @app.background
    async def ticker() -> None:
        room = app._registry.channels["room"]
        while True:
            await room(text="tick")
            ticked.set()
            await trio.sleep(0.05)

    with trio.fail_after(TIMEOUT):
        async with hypercorn(app) as port:
            assert events == ["setup"]
            assert app.publishes_here
            async with client(port) as ws:
                await request(ws, {"type": "subscribe", "channel": "room"})
                await receive(ws)  # welcome
                assert await receive(ws) == {"type": "data", "channel": "room", "data": "tick"}
    assert events == ["setup", "teardown"]
    assert not app.publishes_here


async def test_a_failing_lifespan_fails_the_startup() -> None:
    app = make_app()

    @app.lifespan
    async def broken() -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield

    with (
        trio.fail_after(TIMEOUT),
        pytest.RaisesGroup(
            pytest.RaisesExc(
                LifespanFailureError,
                match="Lifespan failure in startup. 'RuntimeError: no database'",
            ),
            flatten_subgroups=True,
        ),
    ):
        async with hypercorn(app):
            pass


async def test_without_the_asgi_lifespan_a_handshake_is_refused_503() -> None:
    app = make_app()
    with trio.fail_after(TIMEOUT):
        async with hypercorn(_without_lifespan(app)) as port:
            with pytest.raises(ConnectionRejected) as refused:
                async with client(port):
                    pass
    assert refused.value.status_code == 503


def _without_lifespan(app: SocketAPI) -> Any:
    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # hypercorn then goes on without lifespan
            raise NotImplementedError("no lifespan here")
        await app(scope, receive, send)

    return asgi


async def test_at_the_asgi_servers_shutdown_connections_end_then_the_lifespans() -> None:
    # hypercorn cancels WebSocket connections past its graceful timeout; the client still gets
    # the native server's 1001 close, and the lifespan shutdown runs after.
    app = make_app()
    events: list[str] = []

    @app.lifespan
    async def resources() -> AsyncIterator[None]:
        yield
        events.append(f"teardown with {app.counters.connections_open} open")

    with trio.fail_after(TIMEOUT):
        async with client_of_stopping_server(app) as (ws, stop):
            stop.set()
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await ws.get_message()
    assert closed.value.reason.code == 1001
    assert closed.value.reason.reason == "Server shutting down."
    assert events == ["teardown with 0 open"]
    assert app.counters.subscriptions == 0


@asynccontextmanager
async def client_of_stopping_server(
    app: Any, path: str = "/"
) -> AsyncIterator[tuple[WebSocketConnection, trio.Event]]:
    """A client of ``app`` under hypercorn (graceful timeout 0.5 s) and the event that stops it."""
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.graceful_timeout = 0.5
    config.accesslog = None
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            functools.partial(hypercorn_serve, app, config, shutdown_trigger=stop.wait)
        )
        port = int(binds[0].rsplit(":", 1)[1])
        async with client(port, path) as ws:
            assert await request(ws, PING) == PONG
            yield ws, stop


async def test_a_plain_http_request_is_404() -> None:
    app = make_app()
    with trio.fail_after(TIMEOUT):
        async with hypercorn(app) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            head = await stream.receive_some()
            await stream.aclose()
    assert head.startswith(b"HTTP/1.1 404")


async def test_the_native_http_routes_answer_under_asgi_too() -> None:
    app = make_app()
    with trio.fail_after(TIMEOUT):
        async with hypercorn(app) as port:
            answers = []
            for path in (b"/healthz", b"/asyncapi.json"):
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                await stream.send_all(
                    b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                )
                received = b""
                while (chunk := await stream.receive_some()) and len(received) < 1 << 20:
                    received += chunk
                await stream.aclose()
                answers.append(received)
    assert answers[0].startswith(b"HTTP/1.1 200") and answers[0].endswith(b"\r\n\r\nok")
    assert answers[1].startswith(b"HTTP/1.1 200") and b'"asyncapi":"3.0.0"' in answers[1]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
async def test_the_hypercorn_trio_command_line_serves_the_example_app(tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "hypercorn.log"
    command = [sys.executable, "-m", "hypercorn", "-k", "trio", "--bind", f"127.0.0.1:{port}"]
    command += ["--graceful-timeout", "1", "main:app"]
    with log_path.open("wb") as log:
        process = await trio.lowlevel.open_process(
            command, cwd=ROOT / "examples" / "my_app", stdout=log, stderr=subprocess.STDOUT
        )
    try:
        with trio.fail_after(TIMEOUT):
            await wait_until_listening(port)
            async with client(port, "/?token=ada-token") as ws:
                reply = await request(
                    ws, {"type": "action", "channel": "get_user", "data": {"user_id": 1}}
                )
                assert reply["data"]["name"] == "Ada"
                assert await request(ws, {"type": "subscribe", "channel": "analytics"}) == {
                    "type": "subscribed",
                    "channel": "analytics",
                }
                order = {"type": "action", "channel": "create_order"}
                await ws.send_message(
                    json.dumps({**order, "data": {"product_id": 1, "quantity": 2}})
                )
                event = await receive(ws)
                assert (event["channel"], event["data"]["event"]) == ("analytics", "order_created")
                assert (await receive(ws))["status"] == "completed"
                process.send_signal(signal.SIGINT)
                with pytest.raises(ConnectionClosed) as closed:  # after --graceful-timeout
                    while True:
                        await ws.get_message()
                assert closed.value.reason.code == 1001
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            with trio.move_on_after(5):
                await process.wait()
    log_text = log_path.read_text()
    assert "Traceback" not in log_text, log_text


def test_under_asyncio_the_lifespan_fails_naming_the_ways_to_serve() -> None:
    app = make_app()
    sent: list[dict[str, Any]] = []

    async def lifespan_under_asyncio() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "lifespan.startup"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)

    asyncio.run(lifespan_under_asyncio())
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    message = sent[0]["message"]
    for way in ("app.run()", "python -m trio_socketapi module:app", "hypercorn -k trio module:app"):
        assert way in message, message
    assert "asyncio" in message


def test_uvicorn_refuses_to_start_with_that_message_and_no_traceback() -> None:
    pytest.importorskip("uvicorn")
    script = (
        "import uvicorn\nfrom trio_socketapi import SocketAPI\n"
        "uvicorn.run(SocketAPI(), host='127.0.0.1', port=0, lifespan='on')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "hypercorn -k trio module:app" in output, output
    assert "Traceback" not in output, output
