"""Serving makes room for ``max_connections`` in the open-files limit, where the OS allows."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import AsyncExitStack

import pytest
import trio
from trio_websocket import open_websocket

from trio_socketapi import Settings, SocketAPI
from trio_socketapi._open_files import SPARE_FILES, ensure_open_files_for, soft_limit_to_set

resource = pytest.importorskip("resource")

INF = -1  # stands for RLIM_INFINITY in the table


@pytest.mark.parametrize(
    ("soft", "hard", "wanted", "expected"),
    [
        (1024, 524288, 10064, 10064),  # the common Linux default: raised to what is wanted
        (1024, 4096, 10064, 4096),  # only as far as the hard limit
        (1024, INF, 10064, 10064),  # an unlimited hard limit
        (20000, 20000, 10064, None),  # already enough: untouched
        (INF, INF, 10064, None),  # unlimited: untouched
        (4096, 4096, 10064, None),  # at the hard limit already: nothing to raise
        (10064, 20000, 10064, None),  # exactly enough
    ],
)
def test_soft_limit_is_raised_towards_what_max_connections_needs_and_never_lowered(
    soft: int, hard: int, wanted: int, expected: int | None
) -> None:
    assert soft_limit_to_set(soft, hard, wanted, INF) == expected


@pytest.fixture
def low_soft_limit() -> Iterator[int]:
    """Lower this process's soft open-files limit to 256 for one test, then restore it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = 256
    if hard != resource.RLIM_INFINITY and hard < 2 * low:
        pytest.skip(f"hard open-files limit {hard} is too low for this test")
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    try:
        yield low
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def make_app(max_connections: int) -> SocketAPI:
    app = SocketAPI(host="127.0.0.1", settings=Settings(max_connections=max_connections))

    @app.action("add")
    async def add(a: int, b: int) -> int:
        return a + b

    return app


async def test_serving_accepts_more_clients_than_the_soft_limit_it_started_with(
    low_soft_limit: int,
) -> None:
    # 200 clients and their 200 server sides need about 400 descriptors: more than 256.
    clients = 200
    app = make_app(max_connections=1000)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(app.serve, "127.0.0.1", 0)
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            assert soft == 1000 + SPARE_FILES or soft == hard
            async with AsyncExitStack() as stack:
                sockets = [
                    await stack.enter_async_context(
                        open_websocket("127.0.0.1", port, "/", use_ssl=False)
                    )
                    for _ in range(clients)
                ]
                for i, ws in enumerate(sockets):
                    message = {"type": "action", "channel": "add", "data": {"a": i, "b": 1}}
                    await ws.send_message(json.dumps(message))
                    reply = json.loads(await ws.get_message())
                    assert reply["data"] == i + 1
                assert app.counters.connections_open == clients
            nursery.cancel_scope.cancel()


async def test_a_hard_limit_below_max_connections_is_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard open-files limit to exceed")
    app = make_app(max_connections=hard + 1000)
    with trio.fail_after(10), caplog.at_level(logging.WARNING, logger="trio_socketapi"):
        async with trio.open_nursery() as nursery:
            await nursery.start(app.serve, "127.0.0.1", 0)
            nursery.cancel_scope.cancel()
    warnings = [r.getMessage() for r in caplog.records if "open-files limit" in r.getMessage()]
    assert len(warnings) == 1
    assert f"max_connections={hard + 1000}" in warnings[0]


def test_a_limit_the_os_refuses_to_raise_is_reported_not_fatal(
    low_soft_limit: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(*_: object) -> None:
        raise OSError("not permitted")

    monkeypatch.setattr(resource, "setrlimit", refuse)
    with caplog.at_level(logging.WARNING, logger="trio_socketapi"):
        ensure_open_files_for(1000)
    messages = [r.getMessage() for r in caplog.records]
    assert any("could not raise the open-files limit from 256" in m for m in messages)
    assert any("leaves room for about 192 connections" in m for m in messages)
