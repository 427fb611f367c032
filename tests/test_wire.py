"""Guards for the parts of trio-websocket that the fast write path relies on (see _wire.py)."""

from __future__ import annotations

import pytest
import trio
from trio_websocket import ConnectionClosed
from wsproto.connection import ConnectionState

from trio_socketapi import Connection, SocketAPI
from trio_socketapi._frames import is_data_frame, text_frame
from trio_socketapi._protocol import encode_data, encode_reply
from trio_socketapi._session import Session
from trio_socketapi._wire import send_frames
from trio_socketapi.testing import TestServer, open_test_server


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_text_frame_header_lengths(size: int) -> None:
    frame = text_frame(b"x" * size)
    assert frame[0] == 0x81
    header = 2 if size < 126 else 4 if size < 65536 else 10
    assert len(frame) == header + size


def test_data_frames_are_told_from_replies() -> None:
    assert is_data_frame(text_frame(encode_data(b'"c"', b"1", None)))
    assert is_data_frame(text_frame(encode_data(b'"c"', b"x" * 70_000, None)))
    assert not is_data_frame(text_frame(encode_reply("subscribed", "c")))


def only_session(server: TestServer) -> Session:
    sessions = [s for s in server._server._connections.values() if s is not None]
    assert len(sessions) == 1
    return sessions[0]


async def test_trio_websocket_still_has_what_the_write_path_uses() -> None:
    app = SocketAPI()
    seen: list[Connection] = []

    @app.action("hello")
    async def hello(connection: Connection) -> str:
        seen.append(connection)
        return "hi"

    with trio.fail_after(5):
        async with open_test_server(app) as server, server.connect() as client:
            await client.action("hello")
            ws = only_session(server).ws
            assert isinstance(ws._stream_lock, trio.StrictFIFOLock)
            assert isinstance(ws._stream, trio.abc.Stream)
            assert ws._wsproto.state is ConnectionState.OPEN
            # The Host header comes from wsproto's Request event, not the header list.
            assert seen[0].headers["host"] == "testserver"

            # Pre-encoded frames and trio-websocket's own frames arrive in the order written.
            await send_frames(ws, text_frame(b'"one"') + text_frame(b'"two"'))
            await ws.send_message('"three"')
            assert [await client.receive_json() for _ in range(3)] == ["one", "two", "three"]

            await client.aclose()
            with pytest.raises(ConnectionClosed):
                await send_frames(ws, text_frame(b'"late"'))
