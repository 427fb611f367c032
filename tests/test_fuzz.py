"""Hostile and random input never crashes the server, never leaks a task, never drops silently.

Property (issue 5, item 4): every frame a client sends is answered by an error frame or by the
reply PROTOCOL.md prescribes, on a connection that stays open, which a final ``add`` proves by
returning the right sum; the only frames that may close the connection are those over
``max_message_size`` (1009) and invalid UTF-8 text frames (1007), never with 1011 and never by
dropping TCP without a close frame. After the server closes, no task, connection or subscription
is left.

The in-memory tests run each hypothesis example in its own ``trio.run`` under an autojump clock
(a sync ``@given`` test wrapping ``trio.run``), so timeouts cost no real time. Expected replies
come from the oracle in ``fuzz_oracle.py`` (a small model of PROTOCOL.md, independent of the
package), the input from the strategies in ``fuzz_strategies.py``. Clients that vanish without a
close frame are tested over loopback TCP at the end.
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
import trio
import trio.testing
from fuzz_oracle import (
    ANY_ERROR,
    CHANNELS,
    EXAMPLE_TIMEOUT,
    FUZZ,
    FUZZ_SETTINGS,
    MAX_MESSAGE_SIZE,
    REASONED_CLOSE_CODES,
    REPLY_TYPES,
    Probe,
    acceptable_replies,
    dumps,
    frame_probe,
    make_app,
    normalise,
)
from fuzz_strategies import (
    any_probes,
    binary_probes,
    fragmented_probes,
    huge_channel_probes,
    nested,
    random_text_probes,
    text_probes,
    typed_probes,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from trio_websocket import ConnectionClosed, open_websocket

from trio_socketapi.testing import TestClient, client_frame, open_test_server, upgrade_request

# --- Running probes against an in-memory server ----------------------------------------------


def task_tree() -> list[str]:
    """Names of every task now running, from the root down."""
    names = []
    pending = [trio.lowlevel.current_root_task()]
    while pending:
        task = pending.pop()
        names.append(task.name)
        for nursery in task.child_nurseries:
            pending.extend(nursery.child_tasks)
    return sorted(names)


async def next_reply(client: TestClient) -> Any:
    """The next frame that is not a broadcast ``data`` frame (those may come in between)."""
    while True:
        frame = await client.receive_json()
        if not (isinstance(frame, dict) and frame.get("type") == "data"):
            return frame
        assert frame.get("channel") in CHANNELS, frame


def check_reply(probe: Probe, frame: Any) -> None:
    assert not probe.must_close, f"{probe!r} over the size limit was answered: {frame!r}"
    assert isinstance(frame, dict), frame
    assert frame.get("type") in REPLY_TYPES, frame
    if frame["type"] == "error":
        assert isinstance(frame.get("message"), str), frame
        assert set(frame) <= {"type", "message", "id", "channel", "errors"}, frame
    if "errors" in frame:
        assert "id" in frame and isinstance(frame["errors"], list), frame
        frame = {k: v for k, v in frame.items() if k != "errors"}
    acceptable = acceptable_replies(probe.payload)
    if None in acceptable:
        return
    if ANY_ERROR in acceptable and frame["type"] == "error":
        return
    assert frame in [normalise(expected) for expected in acceptable]


async def exercise(probes: list[Probe], final: int) -> None:
    """Send every probe, check each answer, prove the last connection alive, close, check."""
    app = make_app()
    tasks_before = task_tree()
    with trio.fail_after(EXAMPLE_TIMEOUT):
        async with open_test_server(app, settings=FUZZ_SETTINGS) as server:
            hub = server._server.hub
            async with AsyncExitStack() as clients:
                client = await clients.enter_async_context(server.connect())
                for probe in probes:
                    if probe.raw_frame is not None:
                        await client.send_raw(probe.raw_frame)
                    elif isinstance(probe.payload, str):
                        await client.send_text(probe.payload)
                    else:
                        await client.send_bytes(probe.payload)
                    try:
                        frame = await next_reply(client)
                    except ConnectionClosed as closed:
                        reason = closed.reason
                        assert reason is not None
                        assert reason.code in probe.may_close, f"{probe!r} closed with {reason}"
                        assert reason.code in REASONED_CLOSE_CODES
                        client = await clients.enter_async_context(server.connect())
                    else:
                        check_reply(probe, frame)
                await client.send_json({"type": "action", "channel": "add", "data": {"a": final}})
                assert await next_reply(client) == {
                    "type": "error",
                    "message": "Invalid parameters for action 'add'",
                }
                await client.send_json(
                    {"type": "action", "channel": "add", "data": {"a": final, "b": 1}}
                )
                assert await next_reply(client) == {
                    "type": "action",
                    "channel": "add",
                    "status": "completed",
                    "data": final + 1,
                }
        assert task_tree() == tasks_before
    assert app.counters.connections_open == 0
    assert app.counters.subscriptions == 0
    assert hub.subscriber_count("news") == hub.subscriber_count("room") == 0
    assert not hub._by_subscriber and not hub._channels


def run_probes(probes: list[Probe], final: int = 41) -> None:
    trio.run(exercise, probes, final, clock=trio.testing.MockClock(autojump_threshold=0))


finals = st.integers(min_value=-(2**70), max_value=2**70)


@FUZZ
@given(st.lists(text_probes, min_size=1, max_size=8), finals)
def test_random_json_and_envelopes_get_the_protocol_reply(probes: list[Probe], final: int) -> None:
    run_probes(probes, final)


@FUZZ
@given(st.lists(typed_probes, min_size=1, max_size=8), finals)
def test_random_data_against_typed_handlers_is_validated_or_refused(
    probes: list[Probe], final: int
) -> None:
    run_probes(probes, final)


@FUZZ
@given(st.lists(random_text_probes, min_size=1, max_size=6))
def test_text_that_is_not_json_or_not_unicode_gets_invalid_json(probes: list[Probe]) -> None:
    run_probes(probes)


@FUZZ
@given(st.lists(binary_probes, min_size=1, max_size=6))
def test_random_binary_frames_and_invalid_utf8_get_an_error_frame(probes: list[Probe]) -> None:
    run_probes(probes)


@FUZZ
@given(st.lists(fragmented_probes(), min_size=1, max_size=6))
def test_fragmented_messages_with_pings_between_are_answered_whole(probes: list[Probe]) -> None:
    run_probes(probes)


@settings(FUZZ, max_examples=25)
@given(st.lists(huge_channel_probes, min_size=1, max_size=4))
def test_huge_channel_names_are_answered_or_closed_1009(probes: list[Probe]) -> None:
    run_probes(probes)


@settings(FUZZ, max_examples=40)
@given(st.lists(any_probes, min_size=1, max_size=12), finals)
def test_any_mix_of_hostile_frames_leaves_the_server_serving(
    probes: list[Probe], final: int
) -> None:
    run_probes(probes, final)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(float("nan"), id="NaN"),
        pytest.param(float("inf"), id="Infinity"),
        pytest.param(-float("inf"), id="-Infinity"),
        pytest.param(int("9" * 4000), id="4000-digit-int"),
        pytest.param(nested(190), id="nesting-190"),
    ],
)
def test_edge_values_are_echoed_as_valid_json(value: Any) -> None:
    run_probes(
        [frame_probe(dumps({"type": "action", "channel": "echo", "data": {"value": value}}))]
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"a":[' * 2500 + "1" + "]}" * 2500, id="nesting-5000"),
        pytest.param("[" * 100_000, id="100k-open-brackets"),
        pytest.param("1" * 5000, id="5000-digit-int"),
        pytest.param('{"type":"action","channel":"echo","data":{"value":"\\ud800"}}', id="surr"),
    ],
)
def test_pathological_json_gets_invalid_json_or_1009(text: str) -> None:
    run_probes([frame_probe(text)])


# --- Frames the WebSocket layer refuses: a close frame with a reason, never a bare drop -------

INVALID_UTF8_TEXT = [
    pytest.param(b"\xff", id="0xff"),
    pytest.param(b'{"type":"action","channel":"\xc0\xaf"}', id="overlong"),
    pytest.param(b'{"type":"action","channel":"\xed\xa0\x80"}', id="surrogate-bytes"),
    pytest.param(b'"\xf4\x90\x80\x80"', id="beyond-U+10FFFF"),
]


async def close_code_after_raw(frame: bytes) -> tuple[int | None, object]:
    """Write ``frame`` on a fresh in-memory connection. Returns the close code the client then
    sees (``None`` if the server answered instead of closing) and the answer another client got
    meanwhile to ``add(1, 2)``."""
    app = make_app()
    code: int | None = None
    with trio.fail_after(EXAMPLE_TIMEOUT):
        async with (
            open_test_server(app, settings=FUZZ_SETTINGS) as server,
            server.connect() as other,
        ):
            async with server.connect() as client:
                await client.send_raw(frame)
                try:
                    await client.receive_json()
                except ConnectionClosed as closed:
                    assert closed.reason is not None
                    code = closed.reason.code
            other_reply = await other.action("add", {"a": 1, "b": 2})
    assert app.counters.connections_open == 0
    return code, other_reply.get("data")


@pytest.mark.parametrize("payload", INVALID_UTF8_TEXT)
def test_invalid_utf8_text_frame_is_closed_1007(payload: bytes) -> None:
    code, other = trio.run(
        close_code_after_raw,
        client_frame(0x1, payload),
        clock=trio.testing.MockClock(autojump_threshold=0),
    )
    assert other == 3
    assert code == 1007


@pytest.mark.parametrize("payload", INVALID_UTF8_TEXT)
def test_invalid_utf8_text_frame_never_crashes_the_server(payload: bytes) -> None:
    code, other = trio.run(
        close_code_after_raw,
        client_frame(0x1, payload),
        clock=trio.testing.MockClock(autojump_threshold=0),
    )
    assert other == 3  # the other client is served
    assert code != 1011


PROTOCOL_VIOLATIONS = [
    pytest.param(b"\x81\x05hello", id="unmasked"),
    pytest.param(client_frame(0x3, b"{}"), id="reserved-opcode"),
    pytest.param(b"\xc1" + client_frame(0x1, b"{}")[1:], id="rsv1-without-extension"),
    pytest.param(client_frame(0x9, b"p" * 126), id="ping-over-125-bytes"),
    pytest.param(client_frame(0x9, b"p", fin=False), id="fragmented-ping"),
    pytest.param(client_frame(0x0, b"{}"), id="continuation-without-start"),
    pytest.param(client_frame(0x1, b"{", fin=False) + client_frame(0x1, b"}"), id="new-mid-msg"),
    pytest.param(client_frame(0x8, struct.pack("!H", 999)), id="close-code-999"),
]


@pytest.mark.parametrize("frame", PROTOCOL_VIOLATIONS)
def test_websocket_protocol_violations_never_crash_the_server(frame: bytes) -> None:
    code, other = trio.run(
        close_code_after_raw, frame, clock=trio.testing.MockClock(autojump_threshold=0)
    )
    assert other == 3  # the other client is served
    assert code != 1011


@pytest.mark.parametrize("frame", PROTOCOL_VIOLATIONS)
def test_websocket_protocol_violation_is_closed_1002(frame: bytes) -> None:
    code, _ = trio.run(
        close_code_after_raw, frame, clock=trio.testing.MockClock(autojump_threshold=0)
    )
    assert code == 1002


def test_text_frame_over_the_limit_in_bytes_is_closed_1009() -> None:
    text = dumps({"type": "action", "channel": "echo", "data": {"value": "€" * 3000}})
    assert len(text) < MAX_MESSAGE_SIZE < len(text.encode("utf-8"))
    code, _ = trio.run(
        close_code_after_raw,
        client_frame(0x1, text.encode("utf-8")),
        clock=trio.testing.MockClock(autojump_threshold=0),
    )
    assert code == 1009


@pytest.mark.parametrize("data", [0, "", [], False, 0.0])
def test_publish_with_data_that_is_not_an_object_is_refused(data: Any) -> None:
    async def body() -> None:
        app = make_app()
        with trio.fail_after(EXAMPLE_TIMEOUT):
            async with open_test_server(app) as server, server.connect() as client:
                reply = await client.request("publish", "news", data)
        assert reply == {"type": "error", "message": "Invalid parameters for action 'news'"}

    trio.run(body, clock=trio.testing.MockClock(autojump_threshold=0))


# --- Clients that vanish without a close frame (loopback TCP) ---------------------------------


class RawClient:
    """A WebSocket client written by hand on a plain socket, so it can vanish abruptly."""

    def __init__(self, sock: trio.socket.SocketType) -> None:
        self.sock = sock
        self._buffer = b""

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        await sock.connect(("127.0.0.1", port))
        client = cls(sock)
        await client.send_raw(upgrade_request(host=f"127.0.0.1:{port}"))
        head = await client._read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return client

    async def send_raw(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            sent = await self.sock.send(view)
            view = view[sent:]

    async def send_json(self, message: Any) -> None:
        await self.send_raw(client_frame(0x1, json.dumps(message).encode()))

    async def receive_json(self) -> Any:
        """One unfragmented server text frame (servers never mask)."""
        first, second = await self._read_exactly(2)
        assert first == 0x81, hex(first)
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", await self._read_exactly(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", await self._read_exactly(8))
        return json.loads(await self._read_exactly(size))

    def vanish(self, how: str) -> None:
        """Leave without a close frame: ``"reset"`` sends a TCP RST, ``"fin"`` a plain FIN."""
        if how == "reset":
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    async def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = await self.sock.recv(65536)
            assert chunk, "server closed the connection"
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    async def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            chunk = await self.sock.recv(65536)
            assert chunk, "server closed the connection"
            self._buffer += chunk
        head, _, self._buffer = self._buffer.partition(marker)
        return head


async def wait_until(predicate: Callable[[], bool]) -> None:
    # Polls a server-side counter; callers bound it with fail_after.
    while not predicate():  # noqa: ASYNC110
        await trio.sleep(0.005)


@pytest.mark.parametrize(
    "how",
    ["reset", "fin", "reset-mid-frame", "reset-mid-handshake"],
)
async def test_client_vanishing_without_close_frame_is_cleaned_up_and_others_served(
    how: str,
) -> None:
    app = make_app()
    app.host = "127.0.0.1"
    news = app._registry.channels["news"]
    received: list[int] = []
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(app.serve, "127.0.0.1", 0)
            async with open_websocket(
                "127.0.0.1", port, "/", use_ssl=False, message_queue_size=1024
            ) as observer:
                await observer.send_message(json.dumps({"type": "subscribe", "channel": "news"}))
                assert json.loads(await observer.get_message())["type"] == "subscribed"

                async def read_observer() -> None:
                    while len(received) < 200:
                        frame = json.loads(await observer.get_message())
                        if frame["type"] == "data":
                            received.append(int(frame["data"]))

                async def broadcast() -> None:
                    for number in range(200):
                        await news(text=str(number))
                        await trio.sleep(0.002)

                async with trio.open_nursery() as traffic:
                    traffic.start_soon(read_observer)
                    traffic.start_soon(broadcast)
                    if how == "reset-mid-handshake":
                        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                        await sock.connect(("127.0.0.1", port))
                        await sock.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpg")
                        await trio.sleep(0.05)
                        RawClient(sock).vanish("reset")
                    else:
                        client = await RawClient.connect(port)
                        await client.send_json({"type": "subscribe", "channel": "news"})
                        while (await client.receive_json())["type"] != "subscribed":
                            pass
                        await client.send_json(
                            {"type": "subscribe", "channel": "room", "data": {"room": "r"}}
                        )
                        await wait_until(lambda: app.counters.subscriptions == 3)
                        await trio.sleep(0.05)  # broadcasts are flowing to it now
                        if how == "reset-mid-frame":
                            await client.send_raw(client_frame(0x1, b"x" * 300)[:40])
                        client.vanish("fin" if how == "fin" else "reset")
                    await wait_until(
                        lambda: (
                            app.counters.connections_open == 1 and app.counters.subscriptions == 1
                        )
                    )
                # The observer is served as before: an action, and every broadcast in order.
                await observer.send_message(
                    json.dumps({"type": "action", "channel": "add", "data": {"a": 2, "b": 3}})
                )
                assert json.loads(await observer.get_message())["data"] == 5
            nursery.cancel_scope.cancel()
    assert received == list(range(200))
    assert app.counters.connections_open == 0
    assert app.counters.subscriptions == 0
    assert app.counters.slow_consumer_closes == 0
