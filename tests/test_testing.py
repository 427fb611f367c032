"""``trio_socketapi.testing`` below JSON: raw frames on a client, raw streams to the server.

The frames are checked where it matters, by the real server parsing them: a well-formed one is
answered, a malformed one gets the close code RFC 6455 asks for, and either way the other
clients keep being served.
"""

from __future__ import annotations

from typing import Annotated, Any

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed

from trio_socketapi import Connection, RequiredOnSubscribe, SocketAPI
from trio_socketapi.testing import TestServer, client_frame, open_test_server, upgrade_request

TEXT, BINARY, CONTINUATION, PING = 0x1, 0x2, 0x0, 0x9

ECHO = b'{"type":"action","channel":"echo","data":{"text":"%s"}}'


def echo_app() -> SocketAPI:
    app = SocketAPI()

    @app.action("echo")
    async def echo(text: str) -> str:
        return text

    @app.action("whoami")
    async def whoami(connection: Connection) -> dict[str, object]:
        return {"remote": list(connection.remote or ()), "tag": connection.headers.get("x-tag")}

    return app


def echoed(text: str) -> dict[str, str]:
    return {"type": "action", "channel": "echo", "status": "completed", "data": text}


async def assert_serves(server: TestServer) -> None:
    async with server.connect() as other:
        assert await other.action("echo", {"text": "still here"}) == echoed("still here")


@pytest.mark.parametrize("size", [0, 1, 100, 125, 126, 1000, 65535, 65536, 200_000])
async def test_a_frame_from_client_frame_is_parsed_by_the_server_at_every_length_form(
    size: int, autojump_clock: trio.testing.MockClock
) -> None:
    text = "x" * max(0, size - len(ECHO % b""))
    with trio.fail_after(5):
        async with open_test_server(echo_app()) as server, server.connect() as client:
            await client.send_frame(TEXT, ECHO % text.encode())
            assert await client.receive_json() == echoed(text)


async def test_a_message_in_raw_fragments_is_answered_once_whole(
    autojump_clock: trio.testing.MockClock,
) -> None:
    message = ECHO % b"in three parts"
    with trio.fail_after(5):
        async with open_test_server(echo_app()) as server, server.connect() as client:
            await client.send_frame(TEXT, message[:10], fin=False)
            await client.send_frame(PING, b"between fragments")  # control frames may interleave
            await client.send_frame(CONTINUATION, message[10:20], fin=False)
            await client.send_frame(CONTINUATION, message[20:])
            assert await client.receive_json() == echoed("in three parts")


async def test_send_raw_writes_several_frames_at_once_and_each_is_answered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(5):
        async with open_test_server(echo_app()) as server, server.connect() as client:
            await client.send_raw(
                client_frame(TEXT, ECHO % b"a") + client_frame(BINARY, ECHO % b"b")
            )
            assert [await client.receive_json() for _ in range(2)] == [echoed("a"), echoed("b")]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        pytest.param({"opcode": TEXT, "masked": False}, 1002, id="unmasked"),
        pytest.param({"opcode": 0x3}, 1002, id="reserved-opcode"),
        pytest.param({"opcode": TEXT, "rsv": 0b100}, 1002, id="reserved-bit"),
        pytest.param({"opcode": CONTINUATION}, 1002, id="continuation-without-start"),
        pytest.param({"opcode": PING, "fin": False}, 1002, id="fragmented-control-frame"),
        pytest.param({"opcode": TEXT, "payload": b'"\xff"'}, 1007, id="invalid-utf8"),
    ],
)
async def test_a_malformed_frame_closes_that_client_with_the_rfc_code_and_no_other(
    fields: dict[str, object], code: int, autojump_clock: trio.testing.MockClock
) -> None:
    fields.setdefault("payload", ECHO % b"x")
    with trio.fail_after(5):
        async with open_test_server(echo_app()) as server, server.connect() as client:
            await client.send_frame(**fields)  # type: ignore[arg-type]
            assert (await client.wait_closed()).code == code
            with pytest.raises(ConnectionClosed):
                await client.send_raw(client_frame(TEXT, ECHO % b"too late"))
            await assert_serves(server)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"opcode": 16}, "opcode must fit in 4 bits (0 to 15), got 16"),
        ({"opcode": -1}, "opcode must fit in 4 bits (0 to 15), got -1"),
        ({"opcode": TEXT, "rsv": 8}, "rsv must fit in 3 bits (0 to 7), got 8"),
        ({"opcode": TEXT, "mask": b"abc"}, "mask must be 4 bytes, got b'abc'"),
    ],
)
def test_client_frame_refuses_fields_that_do_not_fit_their_bits(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        client_frame(**fields)
    assert str(refused.value) == message


def test_client_frame_lays_out_header_mask_and_payload() -> None:
    frame = client_frame(TEXT, b"hello", fin=False, rsv=0b010)
    assert frame[0] == 0b0010_0001  # FIN clear, RSV2 set, text
    assert frame[1] == 0x80 | 5  # masked, length 5
    mask, body = frame[2:6], frame[6:]
    assert bytes(b ^ mask[i % 4] for i, b in enumerate(body)) == b"hello"
    assert client_frame(BINARY, b"hi", masked=False) == b"\x82\x02hi"
    assert client_frame(BINARY, b"hi", mask=bytes(4)) == b"\x82\x82\0\0\0\0hi"


async def receive_server_frame(stream: trio.abc.Stream, received: bytes) -> tuple[int, bytes]:
    """The first server frame (unmasked, under 64 KiB) in ``received`` and what the stream
    sends after it, as ``(opcode, payload)``."""
    while True:
        if len(received) >= 2:
            size, start = received[1] & 0x7F, 2
            if size == 126 and len(received) >= 4:
                size, start = int.from_bytes(received[2:4], "big"), 4
            if size < 127 and len(received) >= start + size:
                return received[0] & 0x0F, received[start : start + size]
        received += await stream.receive_some()


async def test_open_stream_is_a_raw_client_that_the_server_sees_at_its_remote_address(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(5):
        async with open_test_server(echo_app()) as server:
            stream = await server.open_stream(remote=("203.0.113.9", 4242))
            await stream.send_all(upgrade_request("/", headers={"X-Tag": "raw"}))
            received = b""
            while b"\r\n\r\n" not in received:
                received += await stream.receive_some()
            head, _, rest = received.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101 ")
            await stream.send_all(client_frame(TEXT, b'{"type":"action","channel":"whoami"}'))
            assert await receive_server_frame(stream, rest) == (
                TEXT,
                b'{"type":"action","channel":"whoami","status":"completed",'
                b'"data":{"remote":["203.0.113.9",4242],"tag":"raw"}}',
            )
            await stream.aclose()
            await assert_serves(server)


async def test_a_raw_stream_is_closed_with_1001_when_the_test_server_stops(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(5):
        async with open_test_server(echo_app()) as server:
            stream = await server.open_stream()
            await stream.send_all(upgrade_request())
            received = b""
            while b"\r\n\r\n" not in received:
                received += await stream.receive_some()
        rest = received.partition(b"\r\n\r\n")[2]
        opcode, payload = await receive_server_frame(stream, rest)
        assert (opcode, payload[:2]) == (0x8, (1001).to_bytes(2, "big"))


async def test_subscriber_count_follows_subscribes_unsubscribes_and_clients_leaving(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = SocketAPI()

    @app.channel("room")
    async def room(name: Annotated[str, RequiredOnSubscribe]) -> str:
        return name

    async with open_test_server(app) as server, server.connect() as stays:
        assert server.subscriber_count("room") == 0
        await stays.subscribe("room", {"name": "a"})
        await stays.subscribe("room", {"name": "b"})
        async with server.connect() as leaves:
            await leaves.subscribe("room", {"name": "a"})
            assert server.subscriber_count("room") == 3
        await stays.unsubscribe("room", {"name": "b"})
        await trio.testing.wait_all_tasks_blocked()  # the server has noticed the one that left
        assert server.subscriber_count("room") == 1
        assert server.subscriber_count("nothing") == 0


async def test_shutdown_closes_every_client_with_1001_before_the_block_ends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = echo_app()
    async with open_test_server(app) as server:
        async with server.connect() as a, server.connect() as b:
            await server.shutdown()
            assert [(await c.wait_closed()).code for c in (a, b)] == [1001, 1001]
        await trio.testing.wait_all_tasks_blocked()
        assert app.counters.connections_open == 0
