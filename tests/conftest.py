"""Fixtures shared by the protocol tests.

Every test builds its own small app on the ``app`` fixture (a fresh ``SocketAPI`` that answers
the ``ping`` action, so any test can prove its connection still works) and talks to it through
``trio_socketapi.testing``: the real server code and the real WebSocket protocol over in-memory
streams. ``serve`` and ``connect`` bound every test by ``TIMEOUT`` seconds, so a test that waits
for a frame that never comes fails instead of hanging (instantly under ``autojump_clock``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
import trio

from trio_socketapi import Settings, SocketAPI
from trio_socketapi.testing import TestClient, TestServer, open_test_server

TIMEOUT = 30.0
"""Seconds (virtual under ``autojump_clock``) any one test may take."""

PONG = {"type": "action", "channel": "ping", "status": "completed", "data": "pong"}

ServeFactory = Callable[..., AbstractAsyncContextManager[TestServer]]
ConnectFactory = Callable[..., AbstractAsyncContextManager[TestClient]]


@pytest.fixture
def app() -> SocketAPI:
    """A fresh app with one action, ``ping`` -> ``"pong"``."""
    app = SocketAPI()

    @app.action("ping")
    async def ping() -> str:
        return "pong"

    return app


@asynccontextmanager
async def _serve(app: SocketAPI, *, settings: Settings | None = None) -> AsyncIterator[TestServer]:
    with trio.fail_after(TIMEOUT):
        async with open_test_server(app, settings=settings) as server:
            yield server


@asynccontextmanager
async def _connect(
    app: SocketAPI,
    path: str = "/",
    *,
    headers: dict[str, str] | None = None,
    settings: Settings | None = None,
) -> AsyncIterator[TestClient]:
    async with _serve(app, settings=settings) as server, server.connect(path, headers=headers) as c:
        yield c


@pytest.fixture
def serve() -> ServeFactory:
    """``async with serve(app, settings=...) as server``: a test server, time-bounded."""
    return _serve


@pytest.fixture
def connect() -> ConnectFactory:
    """``async with connect(app, path, headers=..., settings=...) as client``: one client."""
    return _connect


async def _assert_alive(client: TestClient) -> None:
    assert await client.action("ping") == PONG


@pytest.fixture
def assert_alive() -> Callable[[TestClient], Awaitable[None]]:
    """``await assert_alive(client)``: the connection still answers ``ping`` exactly."""
    return _assert_alive
