"""Differential test: the same client script against socketapi 0.2.0 and trio_socketapi.

Both servers run the handlers of ``tests/compat/handlers.py`` as their own processes on loopback;
every core exchange of PROTOCOL.md is sent to both, and every key and value socketapi sends must
come back identically from trio_socketapi. Runs in ``nox -s compat`` (which installs socketapi
and uvicorn); skipped where they are not installed.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from helpers import free_port
from trio_websocket import open_websocket

pytest.importorskip("socketapi", reason="socketapi is installed by `nox -s compat` only")
pytest.importorskip("uvicorn", reason="uvicorn is installed by `nox -s compat` only")

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 20.0


def start(command: list[str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{command} exited: {process.stderr.read() if process.stderr else ''}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{command} did not listen on {port} in {START_TIMEOUT} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def ports() -> Iterator[dict[str, int]]:
    theirs, ours = free_port(), free_port()
    env_python = sys.executable
    servers = [
        start(
            [
                env_python,
                "-m",
                "uvicorn",
                "tests.compat.socketapi_app:app",
                "--port",
                str(theirs),
                "--log-level",
                "warning",
            ],
            theirs,
        ),
        start(
            [
                env_python,
                "-m",
                "trio_socketapi",
                "tests.compat.trio_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(ours),
                "--log-level",
                "warning",
            ],
            ours,
        ),
    ]
    try:
        yield {"socketapi": theirs, "trio_socketapi": ours}
    finally:
        for server in servers:
            stop(server)


async def converse(port: int, messages: list[dict[str, Any]], replies: int) -> list[Any]:
    """Send ``messages`` on one connection and collect the next ``replies`` frames."""
    with trio.fail_after(10):
        async with open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:
            for message in messages:
                await ws.send_message(json.dumps(message))
            return [json.loads(await ws.get_message()) for _ in range(replies)]


def action(channel: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "action", "channel": channel, "data": data or {}}


EXCHANGES: list[tuple[str, list[dict[str, Any]], int]] = [
    ("action", [action("add", {"a": 1, "b": 2})], 1),
    ("coercion", [action("add", {"a": "5", "b": 2})], 1),
    ("missing-parameter", [action("add", {"a": 1})], 1),
    ("wrong-type", [action("add", {"a": "x", "b": 2})], 1),
    ("unknown-action", [action("nope")], 1),
    ("handler-exception", [action("fail", {"reason": "stock"})], 1),
    ("none-result", [action("nothing", {"x": 1})], 1),
    ("model-result", [action("item", {"name": "pen", "qty": 2})], 1),
    ("dependency", [action("with_dep", {"x": 1, "dep": {"a": "2", "b": "z"}})], 1),
    ("dependency-invalid", [action("with_dep", {"x": 1, "dep": {"b": "z"}})], 1),
    ("no-type", [{"channel": "add", "data": {}}], 1),
    ("empty-type", [{"type": "", "channel": "add"}], 1),
    ("no-channel", [{"type": "action", "data": {}}], 1),
    ("unknown-type", [{"type": "poke", "channel": "add"}], 1),
    ("unknown-channel", [{"type": "subscribe", "channel": "nope", "data": {}}], 1),
    ("subscribe", [{"type": "subscribe", "channel": "news", "data": {}}], 1),
    (
        "subscribe-default-response",
        [{"type": "subscribe", "channel": "feed", "data": {"topic": "t"}}],
        2,
    ),
    ("subscribe-invalid", [{"type": "subscribe", "channel": "feed", "data": {}}], 1),
    ("unsubscribe", [{"type": "unsubscribe", "channel": "news"}], 1),
    (
        "subscribe-then-broadcast",
        [{"type": "subscribe", "channel": "news", "data": {}}, action("say", {"text": "hi"})],
        3,
    ),
    (
        "unsubscribe-then-broadcast",
        [
            {"type": "subscribe", "channel": "news", "data": {}},
            {"type": "unsubscribe", "channel": "news"},
            action("say", {"text": "quiet"}),
        ],
        3,
    ),
]


def contains(ours: Any, theirs: Any) -> bool:
    """Every key and value of socketapi's frame is in ours, identically."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        return all(k in ours and contains(ours[k], v) for k, v in theirs.items())
    return bool(ours == theirs)


@pytest.mark.parametrize(
    ("messages", "replies"), [e[1:] for e in EXCHANGES], ids=[e[0] for e in EXCHANGES]
)
async def test_trio_socketapi_answers_as_socketapi_does(
    ports: dict[str, int], messages: list[dict[str, Any]], replies: int
) -> None:
    theirs = await converse(ports["socketapi"], messages, replies)
    ours = await converse(ports["trio_socketapi"], messages, replies)
    assert len(ours) == len(theirs)
    for mine, reference in zip(ours, theirs, strict=True):
        assert contains(mine, reference), (mine, reference)
        # No extra key at all: these clients send no id, so no extension applies.
        assert set(mine) == set(reference), (mine, reference)
