"""The log tells the truth: the close code the server actually sent, dropped handshakes.

(Validation failures are logged too: see ``test_handler_failures.py``.)
"""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from trio_socketapi import Settings, SocketAPI
from trio_socketapi.testing import open_test_server, upgrade_request


def closed_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("connection closed")
    ]


async def test_shutdown_logs_1001_for_a_client_that_never_answers_the_close(
    app: SocketAPI, caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    # The silent client never sends its close frame; trio-websocket records such a close as
    # 1000 with no reason, but what went out was 1001.
    caplog.set_level(logging.INFO, logger="trio_socketapi")
    settings = Settings(shutdown_timeout=3, close_timeout=1)
    with trio.fail_after(10):
        async with open_test_server(app, settings=settings) as server:
            silent = await server.open_stream(remote=None)  # logged as in-memory
            await silent.send_all(upgrade_request())
            assert (await silent.receive_some()).startswith(b"HTTP/1.1 101 ")
            async with server.connect() as answering:
                await answering.action("ping")
                await server.shutdown()
                assert (await answering.wait_closed()).code == 1001
    lines = closed_lines(caplog)
    assert sorted(lines) == [
        "connection closed: 127.0.0.1:50000 code=1001 reason=Server shutting down."
        " client_code=1001",
        "connection closed: in-memory code=1001 reason=Server shutting down. client_code=None",
    ]


async def test_a_client_close_is_logged_with_the_code_echoed(
    app: SocketAPI, caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    caplog.set_level(logging.INFO, logger="trio_socketapi")
    with trio.fail_after(10):
        async with open_test_server(app) as server:
            async with server.connect() as client:
                await client.action("ping")
                await client.aclose(4000)
            await trio.testing.wait_all_tasks_blocked()  # the server has closed and logged
    assert closed_lines(caplog) == [
        "connection closed: 127.0.0.1:50000 code=4000 reason=None client_code=4000"
    ]


async def test_a_reset_is_logged_as_closed_without_a_close_frame(
    app: SocketAPI, caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    caplog.set_level(logging.INFO, logger="trio_socketapi")
    with trio.fail_after(10):
        async with open_test_server(app) as server:
            client = await server.open_stream(remote=None)  # logged as in-memory
            await client.send_all(upgrade_request())
            assert (await client.receive_some()).startswith(b"HTTP/1.1 101 ")
            await client.aclose()
            await trio.testing.wait_all_tasks_blocked()
    assert closed_lines(caplog) == [
        "connection closed: in-memory without a close frame client_code=None"
    ]


async def test_a_dropped_handshake_is_counted_and_logged_at_debug(
    app: SocketAPI, caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    caplog.set_level(logging.DEBUG, logger="trio_socketapi")
    with trio.fail_after(30):
        async with open_test_server(app, settings=Settings(handshake_timeout=3)) as server:
            for _ in range(2):
                client = await server.open_stream(remote=None)  # logged as in-memory
                await client.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
                assert await client.receive_some() == b""
            async with server.connect() as served:
                await served.action("ping")
    assert app.counters.handshakes_timed_out == 2
    assert app.counters.handshakes_refused == 0
    dropped = [r for r in caplog.records if r.getMessage().startswith("handshake dropped")]
    assert [r.levelno for r in dropped] == [logging.DEBUG] * 2
    assert dropped[0].getMessage() == "handshake dropped: in-memory did not complete it in 3 s"
