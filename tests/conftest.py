"""Fixtures shared by the protocol tests.

Every test builds its own small app on the ``app`` fixture (a fresh ``SocketAPI`` that answers
the ``ping`` action, so any test can prove its connection still works) and talks to it through
``trio_socketapi.testing``: the real server code and the real WebSocket protocol over in-memory
streams.

Every trio test runs under one time bound: ``TIMEOUT`` virtual seconds under ``autojump_clock``
(so a test that waits for a frame that never comes fails at once instead of hanging), or
``REAL_TIMEOUT`` seconds on the real clock (subprocesses, loopback TCP, Redis, on a loaded
machine); ``@pytest.mark.bound(seconds)`` gives a test another. A ``trio.fail_after`` inside a
test is then an assertion about how long something takes, not a guard.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
import trio

from trio_socketapi import Settings, SocketAPI
from trio_socketapi.testing import TestClient, TestServer, open_test_server

TIMEOUT = 30.0
"""Virtual seconds a trio test under ``autojump_clock`` may take, unless marked."""
REAL_TIMEOUT = 120.0
"""Seconds a trio test on the real clock may take, unless marked."""

PONG = {"type": "action", "channel": "ping", "status": "completed", "data": "pong"}

ServeFactory = Callable[..., AbstractAsyncContextManager[TestServer]]
ConnectFactory = Callable[..., AbstractAsyncContextManager[TestClient]]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "bound(seconds): fail the trio test after this long on its clock"
    )


def _bounded(test: Callable[..., Awaitable[Any]], seconds: float, name: str) -> Any:
    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> None:
        with trio.move_on_after(seconds) as scope:
            await test(*args, **kwargs)
        if scope.cancelled_caught:
            pytest.fail(f"{name} ran past its {seconds:g} s bound (@pytest.mark.bound to change)")

    return run


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Function) -> Generator[None, None, None]:
    """Put every trio test (each example of a hypothesis one) under its bound, before
    pytest-trio wraps it into a ``trio.run``."""
    if item.get_closest_marker("trio") is not None:
        marker = item.get_closest_marker("bound")
        if marker is not None:
            seconds = float(marker.args[0])
        else:
            seconds = TIMEOUT if "autojump_clock" in item.fixturenames else REAL_TIMEOUT
        hypothesis = getattr(item.obj, "hypothesis", None)
        if hypothesis is not None:
            hypothesis.inner_test = _bounded(hypothesis.inner_test, seconds, item.nodeid)
        else:
            item.obj = _bounded(item.obj, seconds, item.nodeid)
    yield


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
    """``async with serve(app, settings=...) as server``: a test server."""
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
