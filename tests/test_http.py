"""Plain HTTP on the WebSocket port: the request parser and the routes as tables, then over loopback
TCP (healthz, metrics, static files and traversal attempts, 404/405/400, HEAD, and a WebSocket
upgrade on the same port and path still reaching the API)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import pytest
import trio
from trio_websocket import open_websocket

from trio_socketapi import Settings, SocketAPI
from trio_socketapi._handshake import LOOPBACK_HOSTS
from trio_socketapi._http import (
    JS_DIRECTORY,
    HttpRequest,
    HttpResponse,
    MalformedRequest,
    Site,
    StaticFile,
    StaticMount,
    answer,
    parse_request_head,
    static_file,
)
from trio_socketapi._metrics import Histogram, Metrics, render

TIMEOUT = 10


def request(method: str, target: str, **headers: str) -> HttpRequest:
    return HttpRequest(method, target, "HTTP/1.1", {"host": "x", **headers})


# --------------------------------------------------------------------------- parsing


def test_a_request_head_parses_into_method_target_and_lowercased_headers() -> None:
    head = b"GET /healthz?probe=1 HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\nx-a:  2 \r\n\r\n"
    parsed = parse_request_head(head)
    assert parsed == HttpRequest(
        "GET", "/healthz?probe=1", "HTTP/1.1", {"host": "example.com", "x-a": "1, 2"}
    )
    assert parsed.path == "/healthz"
    assert not parsed.is_websocket_upgrade


def test_an_absolute_form_target_is_accepted() -> None:
    parsed = parse_request_head(b"GET http://example.com/healthz HTTP/1.1\r\nHost: e\r\n\r\n")
    assert parsed.path == "/healthz"


def test_http_1_0_needs_no_host() -> None:
    assert parse_request_head(b"GET / HTTP/1.0\r\n\r\n").version == "HTTP/1.0"


@pytest.mark.parametrize(
    "head",
    [
        b"GET /\r\nHost: x\r\n\r\n",  # no version
        b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",  # two spaces
        b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
        b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n",  # method not a token
        b"GET healthz HTTP/1.1\r\nHost: x\r\n\r\n",  # neither path nor absolute URL
        b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost x\r\n\r\n",  # no colon
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",  # space before the colon
        b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",  # obsolete line folding
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
        b"\x16\x03\x01\x02\x00\x01\r\n\r\n",  # a TLS ClientHello on a plain port
    ],
)
def test_a_malformed_head_is_refused(head: bytes) -> None:
    with pytest.raises(MalformedRequest):
        parse_request_head(head)


@pytest.mark.parametrize(
    ("upgrade", "expected"),
    [("websocket", True), ("WebSocket", True), ("h2c, websocket", True), ("h2c", False)],
)
def test_the_upgrade_header_decides_what_is_a_websocket_request(
    upgrade: str, expected: bool
) -> None:
    assert request("GET", "/", upgrade=upgrade).is_websocket_upgrade is expected


# --------------------------------------------------------------------------- routes


def make_site(tmp_path: Path, *, serving: bool = True, metrics: bool = False) -> Site:
    (tmp_path / "js").mkdir(exist_ok=True)
    return Site(
        serving=serving,
        metrics=(lambda: "m 1\n") if metrics else None,
        asyncapi=None,
        mounts=[StaticMount("/static", tmp_path)],
        js_directory=tmp_path / "js",
    )


@pytest.mark.parametrize(
    ("method", "target", "serving", "status", "body"),
    [
        ("GET", "/healthz", True, 200, b"ok"),
        ("HEAD", "/healthz", True, 200, b"ok"),
        ("GET", "/healthz?x=1", True, 200, b"ok"),
        ("GET", "/healthz", False, 503, b"shutting down"),
        ("GET", "/nothing-here", True, 404, b"Not Found"),
        ("GET", "/metrics", True, 404, b"Not Found"),  # off by default
        ("GET", "/asyncapi.json", True, 404, b"Not Found"),  # no document handed in
        ("POST", "/healthz", True, 405, b"Method Not Allowed"),
        ("DELETE", "/static/a.txt", True, 405, b"Method Not Allowed"),
        ("get", "/healthz", True, 405, b"Method Not Allowed"),  # methods are case-sensitive
    ],
)
def test_routes(
    tmp_path: Path, method: str, target: str, serving: bool, status: int, body: bytes
) -> None:
    outcome = answer(request(method, target), make_site(tmp_path, serving=serving))
    assert isinstance(outcome, HttpResponse)
    assert (outcome.status, outcome.body) == (status, body)
    if status == 405:
        assert ("Allow", "GET, HEAD") in outcome.headers


@pytest.mark.parametrize(
    ("host", "status"), [("127.0.0.1:8000", 200), ("localhost", 200), ("evil.example", 400)]
)
def test_a_host_the_server_does_not_answer_to_gets_400(
    tmp_path: Path, host: str, status: int
) -> None:
    site = attrs.evolve(make_site(tmp_path), allowed_hosts=LOOPBACK_HOSTS)
    outcome = answer(request("GET", "/healthz", host=host), site)
    assert isinstance(outcome, HttpResponse) and outcome.status == status


def test_metrics_route_when_on(tmp_path: Path) -> None:
    outcome = answer(request("GET", "/metrics"), make_site(tmp_path, metrics=True))
    assert isinstance(outcome, HttpResponse)
    assert outcome.status == 200 and outcome.body == b"m 1\n"
    assert outcome.content_type.startswith("text/plain; version=0.0.4")


def test_the_js_client_is_served_from_its_directory(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    assert answer(request("GET", "/socketapi.js"), site) == StaticFile(
        tmp_path / "js" / "socketapi.js", tmp_path / "js"
    )
    assert answer(request("GET", "/socketapi.d.ts"), site) == StaticFile(
        tmp_path / "js" / "socketapi.d.ts", tmp_path / "js"
    )


@pytest.mark.parametrize(
    ("path", "relative"),
    [
        ("/static/app.js", "app.js"),
        ("/static/sub/page.html", "sub/page.html"),
        ("/static/sub//page.html", "sub/page.html"),
        ("/static/sp%20ace.txt", "sp ace.txt"),
        ("/static", "index.html"),
        ("/static/", "index.html"),
        ("/static/sub/", "sub/index.html"),
        ("/static/../secret", None),
        ("/static/%2e%2e/secret", None),
        ("/static/%2E%2E%2Fsecret", None),
        ("/static/sub/../../secret", None),
        ("/static/..%5csecret", None),
        ("/static/a%00b", None),
        ("/static/.env", None),
        ("/static/./app.js", None),
        ("/staticfoo/app.js", None),  # a prefix match must end at a segment
        ("/other/app.js", None),
    ],
)
def test_static_paths_never_leave_the_directory(
    tmp_path: Path, path: str, relative: str | None
) -> None:
    found = static_file([StaticMount("/static", tmp_path)], path)
    if relative is None:
        assert found is None
    else:
        assert found == StaticFile(tmp_path / relative, tmp_path)


def test_the_longest_mount_wins(tmp_path: Path) -> None:
    mounts = [StaticMount("", tmp_path / "root"), StaticMount("/docs", tmp_path / "docs")]
    assert static_file(mounts, "/docs/a.html") == StaticFile(
        tmp_path / "docs" / "a.html", tmp_path / "docs"
    )
    assert static_file(mounts, "/a.html") == StaticFile(
        tmp_path / "root" / "a.html", tmp_path / "root"
    )


def test_a_response_encodes_with_length_and_close_and_head_leaves_the_body_out() -> None:
    response = HttpResponse(200, b"ok")
    encoded = response.encode()
    assert encoded.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nContent-Length: 2\r\n" in encoded and b"\r\nConnection: close\r\n" in encoded
    assert encoded.endswith(b"\r\n\r\nok")
    assert response.encode(head_only=True) == encoded[:-2]


# --------------------------------------------------------------------------- metrics


def test_histogram_buckets_are_cumulative_in_the_text_format() -> None:
    from trio_socketapi import Counters

    metrics = Metrics()
    for seconds in (0.0001, 0.003, 0.003, 20.0):
        metrics.observe_action("add", seconds)
    metrics.observe_fanout("chat/{room_id}", 3)
    text = render(Counters(connections_open=2, messages_in=7), metrics)
    lines = text.splitlines()
    assert "# TYPE trio_socketapi_connections_open gauge" in lines
    assert "trio_socketapi_connections_open 2" in lines
    assert "# TYPE trio_socketapi_messages_in_total counter" in lines
    assert "trio_socketapi_messages_in_total 7" in lines
    assert "trio_socketapi_connections_total 0" in lines  # no doubled _total
    assert 'trio_socketapi_action_duration_seconds_bucket{action="add",le="0.0005"} 1' in lines
    assert 'trio_socketapi_action_duration_seconds_bucket{action="add",le="0.005"} 3' in lines
    assert 'trio_socketapi_action_duration_seconds_bucket{action="add",le="10.0"} 3' in lines
    assert 'trio_socketapi_action_duration_seconds_bucket{action="add",le="+Inf"} 4' in lines
    assert 'trio_socketapi_action_duration_seconds_count{action="add"} 4' in lines
    assert 'trio_socketapi_broadcast_subscribers_bucket{channel="chat/{room_id}",le="5.0"} 1' in (
        lines
    )
    assert text.endswith("\n")


def test_every_counter_is_exposed() -> None:
    from trio_socketapi import Counters

    text = render(Counters(), Metrics())
    for field in attrs.fields(Counters):
        assert f"\ntrio_socketapi_{field.name}".removesuffix("_total") in "\n" + text


def test_a_histogram_counts_a_value_on_a_bound_into_that_bucket() -> None:
    histogram = Histogram((1.0, 2.0))
    for value in (1.0, 1.5, 2.0, 3.0):
        histogram.observe(value)
    assert histogram.counts == [1, 2, 1]


# --------------------------------------------------------------------------- over loopback TCP


def make_app(tmp_path: Path, settings: Settings | None = None) -> SocketAPI:
    app = SocketAPI(settings=settings)

    @app.action("add")
    async def add(a: int, b: int) -> int:
        return a + b

    @app.channel("news")
    async def news(text: str = "") -> str:
        return text

    @app.action("announce")
    async def announce(text: str) -> None:
        await news(text=text)

    site = tmp_path / "site"
    (site / "sub").mkdir(parents=True)
    (site / "index.html").write_text("<h1>hi</h1>")
    (site / "app.js").write_text("console.log(1)")
    (site / "style.css").write_text("h1{}")
    (site / "sub" / "data.bin").write_bytes(b"\x00\x01")
    (site / ".env").write_text("SECRET=1")
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", site / "escape.txt")
    app.static("/", site)
    return app


@asynccontextmanager
async def serving(app: SocketAPI) -> AsyncIterator[int]:
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            port: int = await nursery.start(app.serve, "127.0.0.1", 0)
            yield port
            nursery.cancel_scope.cancel()


async def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw``, read until the server closes; return status, headers and body."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(raw)
        received = b""
        while chunk := await stream.receive_some(65536):
            received += chunk
            assert len(received) < 1 << 20
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def get(path: str, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


async def test_healthz_static_files_and_errors_answer_over_tcp_and_close(tmp_path: Path) -> None:
    async with serving(make_app(tmp_path)) as port:
        status, headers, body = await exchange(port, get("/healthz"))
        assert (status, body) == (200, b"ok")
        assert headers["connection"] == "close" and headers["content-length"] == "2"
        cases = [
            ("/", 200, "text/html; charset=utf-8", b"<h1>hi</h1>"),
            ("/index.html", 200, "text/html; charset=utf-8", b"<h1>hi</h1>"),
            ("/app.js", 200, "text/javascript; charset=utf-8", b"console.log(1)"),
            ("/style.css", 200, "text/css; charset=utf-8", b"h1{}"),
            ("/sub/data.bin", 200, "application/octet-stream", b"\x00\x01"),
            ("/sub/", 404, None, b"Not Found"),  # a directory without index.html: no listing
            ("/sub", 404, None, b"Not Found"),
            ("/missing.js", 404, None, b"Not Found"),
            ("/.env", 404, None, b"Not Found"),
            ("/../secret.txt", 404, None, b"Not Found"),
            ("/%2e%2e/secret.txt", 404, None, b"Not Found"),
            ("/escape.txt", 404, None, b"Not Found"),  # a symlink out of the directory
            ("/metrics", 404, None, b"Not Found"),  # off by default
            ("/%ff", 404, None, b"Not Found"),  # not UTF-8
        ]
        for path, want_status, content_type, want_body in cases:
            status, headers, body = await exchange(port, get(path))
            assert (path, status, body) == (path, want_status, want_body)
            if content_type is not None:
                assert headers["content-type"] == content_type
        status, headers, body = await exchange(port, get("/app.js", "HEAD"))
        assert (status, headers["content-length"], body) == (200, "14", b"")
        status, headers, _ = await exchange(port, get("/healthz", "POST"))
        assert status == 405 and headers["allow"] == "GET, HEAD"
        status, _, _ = await exchange(
            port, b"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello"
        )
        assert status == 405
        status, _, body = await exchange(
            port, b"GET /healthz HTTP/1.1\r\nHost: evil.example\r\n\r\n"
        )
        assert (status, body) == (400, b"Invalid Host header")  # DNS rebinding, on loopback
        status, _, body = await exchange(port, b"NONSENSE\r\n\r\n")
        assert (status, body) == (400, b"Bad Request")
        status, _, _ = await exchange(
            port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X: y\r\n" * 12000
        )
        assert status == 431


async def test_a_client_that_closes_before_a_whole_head_gets_nothing(tmp_path: Path) -> None:
    async with serving(make_app(tmp_path)) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"GET /healthz HTTP/1.1\r\n")
            await stream.send_eof()
            assert await stream.receive_some(100) == b""
        status, _, _ = await exchange(port, get("/healthz"))
        assert status == 200  # and the server goes on


async def test_a_websocket_upgrade_on_the_static_path_still_reaches_the_api(
    tmp_path: Path,
) -> None:
    async with (
        serving(make_app(tmp_path)) as port,
        open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws,
    ):
        await ws.send_message(json.dumps({"type": "subscribe", "channel": "news"}))
        assert json.loads(await ws.get_message())["type"] == "subscribed"
        add = {"type": "action", "channel": "add", "data": {"a": 1, "b": 2}}
        await ws.send_message(json.dumps(add))
        assert json.loads(await ws.get_message())["data"] == 3


async def test_metrics_count_actions_and_broadcast_fanout_when_on(tmp_path: Path) -> None:
    app = make_app(tmp_path, Settings(serve_metrics=True))
    async with (
        serving(app) as port,
        open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws,
    ):
        await ws.send_message(json.dumps({"type": "subscribe", "channel": "news"}))
        assert json.loads(await ws.get_message())["type"] == "subscribed"
        announce = {"type": "action", "channel": "announce", "data": {"text": "x"}}
        await ws.send_message(json.dumps(announce))
        frames = [json.loads(await ws.get_message()) for _ in range(2)]
        assert {f["type"] for f in frames} == {"data", "action"}
        status, headers, body = await exchange(port, get("/metrics"))
    assert status == 200
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    lines = body.decode().splitlines()
    assert "trio_socketapi_connections_open 1" in lines
    assert 'trio_socketapi_action_duration_seconds_count{action="announce"} 1' in lines
    assert 'trio_socketapi_broadcast_subscribers_bucket{channel="news",le="0.0"} 0' in lines
    assert 'trio_socketapi_broadcast_subscribers_bucket{channel="news",le="1.0"} 1' in lines


@pytest.mark.skipif(
    not (JS_DIRECTORY / "socketapi.js").exists(), reason="the JS client has not landed yet"
)
async def test_the_js_client_is_served_at_socketapi_js(tmp_path: Path) -> None:
    async with serving(make_app(tmp_path)) as port:
        status, headers, body = await exchange(port, get("/socketapi.js"))
    assert status == 200 and headers["content-type"] == "text/javascript; charset=utf-8"
    assert body == (JS_DIRECTORY / "socketapi.js").read_bytes()


def test_static_refuses_a_bad_path_a_missing_directory_and_a_second_mount(tmp_path: Path) -> None:
    app = SocketAPI()
    with pytest.raises(ValueError, match="absolute URL path"):
        app.static("static", tmp_path)
    with pytest.raises(ValueError, match="absolute URL path"):
        app.static("/a/../b", tmp_path)
    with pytest.raises(ValueError, match="not a directory"):
        app.static("/static", tmp_path / "missing")
    app.static("/static/", tmp_path)
    with pytest.raises(ValueError, match="already mounted"):
        app.static("/static", tmp_path)


async def test_while_clients_are_closed_on_shutdown_healthz_is_503_and_handshakes_are_refused(
    tmp_path: Path,
) -> None:
    from trio_socketapi.testing import upgrade_request

    app = make_app(tmp_path, Settings(shutdown_timeout=3))
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            port: int = await nursery.start(app.serve, "127.0.0.1", 0)
            # A client that completes its handshake, then never answers the 1001 close: the
            # server waits shutdown_timeout for it, and keeps answering meanwhile.
            stuck = await trio.open_tcp_stream("127.0.0.1", port)
            await stuck.send_all(upgrade_request(host=f"127.0.0.1:{port}"))
            assert (await stuck.receive_some(4096)).startswith(b"HTTP/1.1 101")
            nursery.cancel_scope.cancel()
            with trio.CancelScope(shield=True):
                await trio.sleep(0.3)  # shutdown has begun
                status, _, body = await exchange(port, get("/healthz"))
                assert (status, body) == (503, b"shutting down")
                late = await trio.open_tcp_stream("127.0.0.1", port)
                async with late:
                    await late.send_all(upgrade_request(host=f"127.0.0.1:{port}"))
                    answer_ = b""
                    while (chunk := await late.receive_some(4096)) and len(answer_) < 65536:
                        answer_ += chunk
                assert answer_.startswith(b"HTTP/1.1 503 ") and answer_.endswith(b"Shutting down")
            await stuck.aclose()
