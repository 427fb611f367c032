"""FIFO scheduling (_scheduling.py): requests are handled in the order they arrived.

These run trio's real scheduler. Each FIFO test has a twin under trio's own order that must see
that order broken at least once. That shows the test can fail, and it will also fail if a trio
release stops randomising, which would make the fence pointless.
"""

from __future__ import annotations

import base64
import json
import os
import random
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing

import trio_socketapi._scheduling as scheduling
from trio_socketapi import SocketAPI, fifo_scheduling
from trio_socketapi._cli import main as cli_main

pytestmark = pytest.mark.usefixtures("production_scheduler")

ROUNDS = 30
"""Rounds per run: trio's own order keeps a round FIFO with chance 1/2; all 30 by chance: 1e-9."""
TASKS = 8


@pytest.fixture
def production_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    """trio's scheduler as in a server process: pytest-trio and Hypothesis, both loaded here,
    make it deterministic (a seeded shuffle), under which ``fifo_scheduling`` stands aside."""
    monkeypatch.setattr(trio._core._run, "_ALLOW_DETERMINISTIC_SCHEDULING", False)


def orders_tasks_ran_in(rounds: int) -> list[tuple[list[int], list[int]]]:
    """Wake ``TASKS`` parked tasks in a shuffled order, each round in one batch; return
    (woken order, run order) per round."""
    results: list[tuple[list[int], list[int]]] = []

    async def waiter(index: int, event: trio.Event, ran: list[int]) -> None:
        await event.wait()
        ran.append(index)

    async def main() -> None:
        shuffler = random.Random(17)
        for _ in range(rounds):
            events = [trio.Event() for _ in range(TASKS)]
            ran: list[int] = []
            async with trio.open_nursery() as nursery:
                for index, event in enumerate(events):
                    nursery.start_soon(waiter, index, event, ran)
                await trio.testing.wait_all_tasks_blocked()
                woken = list(range(TASKS))
                shuffler.shuffle(woken)
                for index in woken:
                    events[index].set()  # no checkpoint in between: one batch
            results.append((woken, ran))

    trio.run(main)
    return results


def test_under_fifo_scheduling_woken_tasks_run_in_the_order_they_were_woken() -> None:
    with fifo_scheduling() as applied:
        assert applied
        rounds = orders_tasks_ran_in(ROUNDS)
    assert all(ran == woken for woken, ran in rounds)


def test_under_trios_own_order_woken_tasks_do_not_always_run_in_that_order() -> None:
    rounds = orders_tasks_ran_in(ROUNDS)
    assert any(ran != woken for woken, ran in rounds)


def test_fifo_scheduling_restores_trios_order_on_exit_and_nests() -> None:
    original = trio._core._run._r
    with fifo_scheduling() as outer:
        with fifo_scheduling() as inner:
            assert outer and inner
        assert trio._core._run._r is not original  # the inner block leaves the outer's on
    assert trio._core._run._r is original
    assert any(ran != woken for woken, ran in orders_tasks_ran_in(ROUNDS))


def test_on_an_untested_trio_fifo_scheduling_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(trio, "__version__", "0.99.0")
    original = trio._core._run._r
    with fifo_scheduling() as applied:
        assert not applied
        assert trio._core._run._r is original


def test_under_deterministic_scheduling_fifo_scheduling_stands_aside(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(trio._core._run, "_ALLOW_DETERMINISTIC_SCHEDULING", True)
    original = trio._core._run._r
    with fifo_scheduling() as applied:
        assert not applied
        assert trio._core._run._r is original


def test_the_installed_trio_is_one_the_fence_was_tested_on() -> None:
    # If this fails, a new trio came out: check its scheduler loop still pops the batch from
    # the end after the coin flip, run this file, then widen TESTED_TRIO.
    assert scheduling.fifo_supported(), trio.__version__


def test_fifo_scheduling_keeps_trios_clock_offset_random() -> None:
    with fifo_scheduling():
        offsets = {trio._core._run.SystemClock().offset for _ in range(5)}
    assert len(offsets) > 1


# -- end to end: clients over loopback, the server in trio.run -------------------------------

CLIENTS = 6


def masked_text_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


def read_text_frame(sock: socket.socket) -> bytes:
    def exactly(count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = sock.recv(count - len(data))
            assert chunk, "the server closed the connection"
            data += chunk
        return data

    first, second = exactly(2)
    assert first == 0x81, first
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", exactly(2))
    return exactly(length)


def open_raw_client(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1024)
        assert chunk, "no handshake response"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head[:100]
    assert head.endswith(b"\r\n\r\n"), "the server spoke before it was asked"
    return sock


def handled_in_arrival_order(run_server: Callable[[Callable[[], Any]], None]) -> list[bool]:
    """Per round: whether the server handled one message from each of ``CLIENTS`` connections
    in the order they were sent (shuffled, while a gate message held the server up)."""
    app = SocketAPI()
    handled: list[int] = []
    gate_open = threading.Event()
    all_sent = threading.Event()
    sent_orders: list[list[int]] = []
    handled_rounds: list[tuple[int, ...]] = []
    failures: list[BaseException] = []

    @app.action("gate")
    async def gate() -> None:
        # Once every connection waits in the poller, hold the whole event loop, as a busy
        # server would, until each has been sent its message: the next poll then wakes them
        # all in one batch, in the order the messages arrived.
        await trio.testing.wait_all_tasks_blocked()
        gate_open.set()
        assert all_sent.wait(10)
        all_sent.clear()

    @app.action("mark")
    async def mark(i: int) -> int:
        handled.append(i)
        return i

    def clients(port: int) -> None:
        try:
            gate_client = open_raw_client(port)
            socks = [open_raw_client(port) for _ in range(CLIENTS)]
            shuffler = random.Random(5)
            for _ in range(ROUNDS):
                handled.clear()
                gate_client.sendall(masked_text_frame(b'{"type":"action","channel":"gate"}'))
                assert gate_open.wait(10)
                gate_open.clear()
                order = list(range(CLIENTS))
                shuffler.shuffle(order)
                for i in order:
                    message = {"type": "action", "channel": "mark", "data": {"i": i}}
                    socks[i].sendall(masked_text_frame(json.dumps(message).encode()))
                all_sent.set()
                read_text_frame(gate_client)
                for sock in socks:
                    read_text_frame(sock)
                sent_orders.append(order)
                handled_rounds.append(tuple(handled))
            for sock in [gate_client, *socks]:
                sock.close()
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)
            all_sent.set()  # let a gate that is waiting go

    async def serve_and_drive() -> None:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(app.serve, "127.0.0.1", 0)
            await trio.to_thread.run_sync(clients, port, abandon_on_cancel=True)
            nursery.cancel_scope.cancel()

    run_server(serve_and_drive)
    assert not failures, failures
    assert [sorted(r) for r in handled_rounds] == [list(range(CLIENTS))] * ROUNDS
    return [tuple(order) == done for order, done in zip(sent_orders, handled_rounds, strict=True)]


def run_with_fifo(main: Callable[[], Any]) -> None:
    with fifo_scheduling():
        trio.run(main)


def test_under_fifo_scheduling_the_server_handles_messages_in_the_order_they_arrived() -> None:
    assert all(handled_in_arrival_order(run_with_fifo))


def test_under_trios_own_order_the_server_does_not_always_handle_them_in_arrival_order() -> None:
    assert not all(handled_in_arrival_order(trio.run))


# -- where it applies ---------------------------------------------------------------------------


def source_during(monkeypatch: pytest.MonkeyPatch, run: Callable[[], None]) -> object:
    """The random source trio would schedule with inside ``trio.run``, as ``run`` calls it."""
    seen: list[object] = []

    def fake_trio_run(*_args: Any, **_kwargs: Any) -> None:
        seen.append(trio._core._run._r)

    monkeypatch.setattr(trio, "run", fake_trio_run)
    run()
    (source,) = seen
    return source


def test_app_run_schedules_fifo_unless_told_trio(monkeypatch: pytest.MonkeyPatch) -> None:
    app = SocketAPI()
    original = trio._core._run._r
    assert source_during(monkeypatch, app.run) is not original
    assert source_during(monkeypatch, lambda: app.run(scheduling="trio")) is original
    assert trio._core._run._r is original


def test_app_run_refuses_an_unknown_scheduling() -> None:
    with pytest.raises(ValueError, match="scheduling must be 'fifo' or 'trio', not 'lifo'"):
        SocketAPI().run(scheduling="lifo")  # type: ignore[arg-type]


def test_the_command_line_passes_scheduling_to_app_run(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    monkeypatch.setattr(SocketAPI, "run", lambda self, *a, scheduling, **k: seen.append(scheduling))
    cli_main(["benchmarks.apps.trio_app:app"])
    cli_main(["benchmarks.apps.trio_app:app", "--scheduling", "trio"])
    assert seen == ["fifo", "trio"]


def test_the_command_line_refuses_an_unknown_scheduling(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli_main(["benchmarks.apps.trio_app:app", "--scheduling", "lifo"])
    assert "invalid choice: 'lifo'" in capsys.readouterr().err
