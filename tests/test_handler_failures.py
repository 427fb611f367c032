"""A handler cannot stop the server: whatever it raises fails its one message with an error frame.

Only cancellation passes through a handler (it is how a closing session stops it), and only a
real Ctrl-C stops the server (a subprocess gets a real SIGINT while a handler runs).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing
from trio_websocket import ConnectionClosed, open_websocket

from trio_socketapi import Settings, SocketAPI
from trio_socketapi.testing import TestServer, open_test_server

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

INTERNAL = "Internal server error."


class Shutdown(BaseException):
    """A BaseException of the app's own."""


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no message for you")


RAISED: dict[str, Callable[[], BaseException]] = {
    "system-exit": lambda: SystemExit(3),
    "keyboard-interrupt": KeyboardInterrupt,
    "own-base-exception": lambda: Shutdown("stop"),
    "group-of-system-exit": lambda: BaseExceptionGroup("tasks", [SystemExit(1)]),
}


@asynccontextmanager
async def serving(app: SocketAPI, settings: Settings | None = None) -> AsyncIterator[TestServer]:
    """A test server; anything escaping it fails the test instead of ending the test run."""
    try:
        with trio.fail_after(10):
            async with open_test_server(app, settings=settings) as server:
                yield server
    except BaseException as exc:
        if isinstance(exc, Exception):  # the test's own failure, or an ordinary error
            raise
        pytest.fail(f"the server stopped with {exc!r}")  # a KeyboardInterrupt must not stop pytest


@pytest.mark.parametrize("message_id", [None, 7], ids=["inline", "with-id"])
@pytest.mark.parametrize("raised", list(RAISED), ids=list(RAISED))
async def test_a_handler_base_exception_fails_its_message_and_the_server_goes_on(
    app: SocketAPI,
    raised: str,
    message_id: int | None,
    assert_alive: Any,
    caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    @app.action("stop")
    async def stop() -> None:
        await trio.lowlevel.checkpoint()
        raise RAISED[raised]()

    async with serving(app) as server, server.connect() as client, server.connect() as other:
        reply = await client.action("stop", id=message_id)
        expected: dict[str, Any] = {"type": "error", "message": INTERNAL}
        if message_id is not None:
            expected |= {"id": message_id, "channel": "stop"}
        assert reply == expected
        await assert_alive(client)
        await assert_alive(other)
        assert app.counters.handler_errors == 1
        assert app.counters.connections_open == 2
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage().startswith("handler raised ")
    assert record.exc_info is not None


async def test_a_base_exception_is_internal_even_with_expose_errors(
    app: SocketAPI, autojump_clock: trio.testing.MockClock
) -> None:
    @app.action("exit")
    async def exit_() -> None:
        raise SystemExit("secret detail")

    async with serving(app, Settings(expose_errors=True)) as server, server.connect() as client:
        assert await client.action("exit") == {"type": "error", "message": INTERNAL}


@pytest.mark.parametrize("expose_errors", [True, False])
async def test_an_exception_whose_str_raises_gets_a_fallback_message_and_one_clean_log_line(
    app: SocketAPI,
    expose_errors: bool,
    assert_alive: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    autojump_clock: trio.testing.MockClock,
) -> None:
    @app.action("unprintable")
    async def unprintable() -> None:
        raise UnprintableError

    settings = Settings(expose_errors=expose_errors)
    async with serving(app, settings) as server, server.connect() as client:
        assert await client.action("unprintable") == {"type": "error", "message": INTERNAL}
        await assert_alive(client)
    assert "Logging error" not in capsys.readouterr().err
    [record] = [r for r in caplog.records if r.getMessage().startswith("handler raised")]
    assert record.levelno == logging.ERROR
    assert "UnprintableError" in record.getMessage()
    logging.Formatter().format(record)  # the traceback formats too


@pytest.mark.parametrize("message_id", [None, 7], ids=["inline", "with-id"])
@pytest.mark.parametrize("in_own_nursery", [False, True], ids=["direct", "in-own-nursery"])
async def test_a_handler_cancelled_by_shutdown_is_not_answered_as_a_failure(
    app: SocketAPI,
    message_id: int | None,
    in_own_nursery: bool,
    autojump_clock: trio.testing.MockClock,
) -> None:
    started = trio.Event()

    @app.action("forever")
    async def forever() -> None:
        started.set()
        if in_own_nursery:  # the cancellation then comes out as a group of Cancelled
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio.sleep_forever)
                nursery.start_soon(trio.sleep_forever)
        await trio.sleep_forever()

    async with serving(app) as server, server.connect() as client:
        await client.send_json({"type": "action", "channel": "forever", "id": message_id})
        await started.wait()
        with trio.move_on_after(1):
            await server.shutdown()
        with pytest.raises(ConnectionClosed) as closed:
            await client.receive_json()  # no error frame before the close
        assert closed.value.reason is not None
        assert closed.value.reason.code == 1001
        assert app.counters.handler_errors == 0


async def test_an_invalid_message_without_id_is_logged_with_pydantic_field_errors(
    app: SocketAPI,
    caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    @app.action("add")
    async def add(a: int, b: int) -> int:
        return a + b

    caplog.set_level(logging.INFO, logger="trio_socketapi")
    async with serving(app) as server, server.connect() as client:
        reply = await client.action("add", {"a": "one"})
        assert reply == {"type": "error", "message": "Invalid parameters for action 'add'"}
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("invalid ")]
    assert line.startswith("invalid action 'add' from 127.0.0.1:50000: ")
    assert "a: Input should be a valid integer" in line
    assert "b: Field required" in line


SERVER_SCRIPT = """
import logging, os, signal, sys
import trio
from trio_socketapi import SocketAPI

app = SocketAPI()

@app.action("interrupt")
async def interrupt() -> None:
    raise KeyboardInterrupt  # the handler's own: one failed message

@app.action("exit")
async def exit_() -> None:
    sys.exit(3)

@app.action("ctrl_c")
async def ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, arriving while a handler runs
    await trio.sleep_forever()

async def main() -> None:
    async with trio.open_nursery() as nursery:
        port = await nursery.start(app.serve, "127.0.0.1", 0)
        print("port", port, flush=True)

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

logging.basicConfig(level=logging.INFO, format="%(message)s")
try:
    trio.run(main)  # no signal receiver: trio raises KeyboardInterrupt on SIGINT
except BaseExceptionGroup as group:  # from main's nursery
    if group.subgroup(KeyboardInterrupt) is None:
        raise
    print("stopped by Ctrl-C", flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a process is POSIX")
async def test_only_a_real_ctrl_c_stops_a_server_run_under_plain_trio_run(tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    script.write_text(SERVER_SCRIPT)
    process = await trio.lowlevel.open_process(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    output = b""
    try:
        with trio.fail_after(15):
            while b"\n" not in output.partition(b"port ")[2]:
                chunk = await process.stdout.receive_some()
                assert chunk, output.decode()
                output += chunk
            port = int(output.partition(b"port ")[2].split()[0])
            async with open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:
                for name in ("interrupt", "exit"):
                    await ws.send_message(f'{{"type":"action","channel":"{name}"}}')
                    assert await ws.get_message() == f'{{"type":"error","message":"{INTERNAL}"}}'
                await ws.send_message('{"type":"action","channel":"ctrl_c"}')
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.get_message()
                assert closed.value.reason is not None
                assert closed.value.reason.code == 1001
            await process.wait()
            while chunk := await process.stdout.receive_some():
                output += chunk
    finally:
        if process.returncode is None:
            process.kill()
            with trio.move_on_after(5):
                await process.wait()
                while chunk := await process.stdout.receive_some():
                    output += chunk  # for the failure message
                print(output.decode())
    assert process.returncode == 0, output.decode()
    assert b"stopped by Ctrl-C" in output
    assert output.count(b"handler raised ") == 2
