"""The Autobahn TestSuite's cases against the server's own frame reading, through an echo app.

``WebSocketProtocol`` splits and unmasks the common frames itself (see _websocket.py), so the
whole read path is checked against the conformance suite's cases, run by kosoku's client: the
real listener, handshake, ``Session`` read loop, outbox and closing handshake, with only the
message handling replaced by an echo (the suite sends arbitrary text and binary and expects it
back). permessage-deflate (cases 12 and 13) is not offered, so those cases are left out.

kosoku runs in a child process: it installs its own ``pkg_resources`` module, which would break
later tests in this one.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
import trio
from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, TextMessage

import trio_socketapi._server
from trio_socketapi import Settings, SocketAPI
from trio_socketapi._session import Session

pytest.importorskip("kosoku")

# The suite's largest messages are 16 MiB (case 9); they must fit.
SETTINGS = Settings(max_message_size=32 << 20, close_timeout=2, outbox_size=4096)
CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"]


class EchoSession(Session):
    """A session that sends every message back as it came (text as text, binary as binary)."""

    async def handle_message(self, raw: str | bytes, nursery: trio.Nursery) -> None:
        connection = self.protocol.connection
        if connection.state is not ConnectionState.OPEN:
            return  # a message read before the client's close: no reply can follow it
        event = TextMessage(raw) if isinstance(raw, str) else BytesMessage(raw)
        await self.send(connection.send(event))


@pytest.fixture
def echo_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An echo server on loopback, run by trio in a thread while the test runs asyncio."""
    monkeypatch.setattr(trio_socketapi._server, "Session", EchoSession)
    app = SocketAPI(settings=SETTINGS)
    ports: list[int] = []
    started = threading.Event()
    token: list[trio.lowlevel.TrioToken] = []
    stop = trio.Event()

    async def serve() -> None:
        token.append(trio.lowlevel.current_trio_token())
        async with trio.open_nursery() as nursery:
            ports.append(await nursery.start(app.serve, "127.0.0.1", 0))
            started.set()
            await stop.wait()
            nursery.cancel_scope.cancel()

    thread = threading.Thread(target=trio.run, args=(serve,), daemon=True)
    thread.start()
    assert started.wait(10), "the echo server did not start"
    try:
        yield f"ws://127.0.0.1:{ports[0]}"
    finally:
        token[0].run_sync_soon(stop.set)
        thread.join(30)
        assert not thread.is_alive(), "the echo server did not stop"


RUN_CASES = """
import asyncio, json, os, sys
import kosoku

async def run():
    try:
        results = await kosoku.run_fuzzingclient(sys.argv[1], cases=sys.argv[2:], concurrency=4)
    except kosoku.FailureError as failure:  # it holds the failed cases only
        results = failure.results
    return [
        [r.case_id, r.passed, f"{r.behavior.value}/{r.behavior_close.value} {r.description[:70]}"]
        for r in results
    ]

print(json.dumps(asyncio.run(asyncio.wait_for(run(), timeout=600))), flush=True)
os._exit(0)  # kosoku 0.1.0's runtime can abort while the interpreter tears down
"""


def test_the_autobahn_cases_pass_against_the_server(
    echo_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="trio_socketapi")
    done = subprocess.run(
        [sys.executable, "-c", RUN_CASES, echo_url, *CASES],
        capture_output=True,
        text=True,
        timeout=700,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.splitlines()[-1])
    failed = [f"{case}: {verdict}" for case, passed, verdict in results if not passed]
    assert not failed, "\n".join(failed)
    assert len(results) > 300  # every selected case ran
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors  # no case made the server fail on its side
