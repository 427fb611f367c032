"""A synchronous test client with socketapi's interface, for tests written for socketapi.

socketapi's testing docs have users write::

    from socketapi.testclient import TestClient

    client = TestClient(app)
    with client.websocket_connect("/") as websocket:
        websocket.send_json({"type": "action", "channel": "add", "data": {"a": 1, "b": 2}})
        assert websocket.receive_json()["data"] == 3

Changing only the import to ``from trio_socketapi.testclient import TestClient`` keeps such
tests working. The app is served in a thread of its own, by a trio loop running the real server
code in memory (``trio_socketapi.testing.open_test_server``: handshake, sessions, dispatch,
fan-out, lifespans and background tasks); each call here blocks until that loop has done it.
``with client:`` serves the app (its lifespans run) for the whole block; without it, each
``websocket_connect`` serves it for the duration of its own block.

A channel function awaited meanwhile anywhere in the process, in a test's own ``trio.run`` too,
reaches the test connections' subscribers: the broadcast runs in the serving loop.

For trio-native async tests, ``trio_socketapi.testing`` (``open_test_client``) is the direct
way; this module exists so that socketapi test files run unchanged. It needs no extra package.
"""

from __future__ import annotations

import concurrent.futures
import functools
import threading
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, suppress
from types import TracebackType
from typing import Any

import pydantic_core
import trio
from trio_websocket import CloseReason, ConnectionClosed

from ._app import SocketAPI
from ._protocol import to_json
from .testing import TestClient as _AsyncClient
from .testing import TestServer, open_test_server

__all__ = ["TestClient", "WebSocketDisconnect", "WebSocketTestSession"]

DEFAULT_TIMEOUT = 10.0
"""Seconds any one call (a receive included) may take before it raises ``TimeoutError``."""


class WebSocketDisconnect(Exception):
    """The server closed the test connection; ``code`` and ``reason`` say how."""

    def __init__(self, code: int = 1000, reason: str | None = None) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


class TestClient:
    """Serve ``app`` in a thread of its own and open synchronous test connections to it.

    ``timeout`` bounds every call, so a test waiting for a frame that never comes fails with
    ``TimeoutError`` instead of hanging. ``headers`` are sent on every handshake.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: SocketAPI,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.app = app
        self.headers = dict(headers or {})
        self.timeout = timeout
        self._loop: _ServingLoop | None = None

    def __enter__(self) -> TestClient:
        """Serve the app (its lifespans and background tasks start) until the block ends.

        Raises what serving raises at start (a failing lifespan's error).
        """
        if self._loop is not None:
            raise RuntimeError("this TestClient is already serving")
        self._loop = _ServingLoop(self.app, self.timeout)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the connections still open with 1001, end the lifespans, stop the thread."""
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.stop()

    def websocket_connect(
        self, path: str = "/", *, headers: dict[str, str] | None = None
    ) -> WebSocketTestSession:
        """A connection to ``path`` (query string included), opened by ``with``.

        Raises ``trio_websocket.ConnectionRejected`` if the handshake is refused.
        """
        return WebSocketTestSession(self, path, {**self.headers, **(headers or {})})

    def _serving(self) -> tuple[_ServingLoop, bool]:
        """The loop serving the app, and whether it was started for one connection only."""
        if self._loop is not None:
            return self._loop, False
        return _ServingLoop(self.app, self.timeout), True


class WebSocketTestSession:
    """One test connection: send and receive JSON, text or bytes, synchronously."""

    __test__ = False

    def __init__(self, client: TestClient, path: str, headers: dict[str, str]) -> None:
        self._client = client
        self._path = path
        self._headers = headers
        self._loop: _ServingLoop | None = None
        self._own_loop = False
        self._connection: _AsyncClient | None = None
        self._release: trio.Event | None = None

    def __enter__(self) -> WebSocketTestSession:
        self._loop, self._own_loop = self._client._serving()
        try:
            self._connection, self._release = self._loop.call(
                self._loop.open, self._path, self._headers
            )
        except BaseException:
            if self._own_loop:
                self._loop.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
        if self._own_loop and self._loop is not None:
            self._loop.stop()

    def send_json(self, data: Any, mode: str = "text") -> None:
        """Send ``data`` as one JSON frame (``mode="binary"``: a binary frame)."""
        text = to_json(data).decode()
        self._run(_send, text if mode == "text" else text.encode())

    def send_text(self, data: str) -> None:
        """Send one text frame."""
        self._run(_send, data)

    def send_bytes(self, data: bytes) -> None:
        """Send one binary frame."""
        self._run(_send, data)

    def receive_text(self) -> str:
        """The next frame from the server. Raises ``WebSocketDisconnect`` once it closed."""
        message = self._run(_receive)
        return message if isinstance(message, str) else message.decode()

    def receive_bytes(self) -> bytes:
        """The next frame from the server, as bytes (the server sends UTF-8 JSON text)."""
        message = self._run(_receive)
        return message.encode() if isinstance(message, str) else bytes(message)

    def receive_json(self, mode: str = "text") -> Any:
        """The next frame from the server, parsed."""
        return pydantic_core.from_json(self.receive_text())

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection from the client side (again: nothing)."""
        release, self._release = self._release, None
        if release is None or self._loop is None or self._connection is None or self._loop.stopped:
            return
        connection = self._connection
        self._loop.call(_close, connection, code, reason, release)

    def _run(self, func: Callable[..., Any], *args: Any) -> Any:
        if self._loop is None or self._connection is None or self._release is None:
            raise RuntimeError("the connection is not open (use it inside its with block)")
        if self._loop.stopped:  # the server closed the connection as it stopped
            reason = self._connection.ws.closed
            raise WebSocketDisconnect(1006) if reason is None else _disconnect_of(reason)
        return self._loop.call(func, self._connection, *args)


async def _send(connection: _AsyncClient, message: str | bytes) -> None:
    try:
        await connection.ws.send_message(message)
    except ConnectionClosed as closed:
        raise _disconnect(closed) from None


async def _receive(connection: _AsyncClient) -> str | bytes:
    try:
        return await connection.ws.get_message()
    except ConnectionClosed as closed:
        raise _disconnect(closed) from None


async def _close(
    connection: _AsyncClient, code: int, reason: str | None, release: trio.Event
) -> None:
    try:
        await connection.ws.aclose(code, reason)
    finally:
        release.set()


def _disconnect(closed: ConnectionClosed) -> WebSocketDisconnect:
    if closed.reason is None:
        return WebSocketDisconnect(1006)
    return _disconnect_of(closed.reason)


def _disconnect_of(reason: CloseReason) -> WebSocketDisconnect:
    return WebSocketDisconnect(reason.code, reason.reason)


class _ServingLoop:
    """A thread running a trio loop that serves the app in memory until ``stop``."""

    def __init__(self, app: SocketAPI, timeout: float) -> None:
        self._app = app
        self._timeout = timeout
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._server: TestServer | None = None
        self._stop: trio.Event | None = None
        self._failure: BaseException | None = None
        self._releases: list[trio.Event] = []
        self._thread = threading.Thread(target=self._run, name="trio_socketapi TestClient")
        self._thread.start()
        if not self._ready.wait(timeout) or self._token is None:
            self._thread.join(timeout)
            if self._failure is not None:
                raise self._failure
            raise TimeoutError(f"the app did not start serving within {timeout} s")

    def call(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run ``await func(*args)`` in the serving loop, bounded by the timeout, and block this
        thread until it is done; return its result or raise its error.

        Works from any other thread, one running its own trio loop too (an async test), which
        is blocked meanwhile, as a synchronous test client blocks.
        """
        assert self._token is not None and self._nursery is not None
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()

        async def run() -> None:
            try:
                done.set_result(await _bounded(self._timeout, func, *args))
            except Exception as exc:
                done.set_exception(exc)
            except BaseException:
                done.set_exception(RuntimeError("the test server stopped"))
                raise

        try:
            self._token.run_sync_soon(self._nursery.start_soon, run)
        except trio.RunFinishedError:
            raise RuntimeError("the test server has stopped") from None
        return done.result()

    async def open(self, path: str, headers: dict[str, str]) -> tuple[_AsyncClient, trio.Event]:
        """Open a connection, held by a task of its own until the returned event is set."""
        assert self._nursery is not None and self._server is not None
        connect = functools.partial(self._server.connect, path, headers=headers)
        release = trio.Event()
        self._releases.append(release)
        client: _AsyncClient = await self._nursery.start(_hold, connect, release)
        return client, release

    @property
    def stopped(self) -> bool:
        """Whether the loop has stopped serving."""
        return not self._thread.is_alive()

    def stop(self) -> None:
        """Stop serving (open connections are closed with 1001) and wait for the thread."""
        if self._token is not None and self._stop is not None:
            with suppress(trio.RunFinishedError):  # it stopped by itself
                self._token.run_sync_soon(self._stop.set)
        self._thread.join(self._timeout + 10)
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def _run(self) -> None:
        try:
            trio.run(self._serve)
        except BaseException as exc:  # handed to the thread that started or stops the loop
            self._failure = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._stop = trio.Event()
        async with open_test_server(self._app) as server, trio.open_nursery() as nursery:
            self._server = server
            self._nursery = nursery
            self._token = trio.lowlevel.current_trio_token()
            self._ready.set()
            await self._stop.wait()
            # The connections still open end with the server: it closes them with 1001.
            with trio.move_on_after(self._timeout):
                await server.shutdown()
            for release in self._releases:
                release.set()


async def _hold(
    connect: Callable[[], AbstractAsyncContextManager[_AsyncClient]],
    release: trio.Event,
    *,
    task_status: trio.TaskStatus[_AsyncClient],
) -> None:
    async with connect() as client:
        task_status.started(client)
        await release.wait()


async def _bounded(seconds: float, func: Callable[..., Any], *args: Any) -> Any:
    try:
        with trio.fail_after(seconds):
            return await func(*args)
    except trio.TooSlowError:
        raise TimeoutError(f"no answer from the test server within {seconds} s") from None
