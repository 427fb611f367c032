"""``SocketAPI`` as an ASGI 3 application, for ASGI servers that run on trio.

``hypercorn -k trio module:app`` (or a Starlette/FastAPI app mounting the ``SocketAPI`` and served
that way) calls the app with ``websocket``, ``lifespan`` and ``http`` scopes:

- ``lifespan``: startup runs what ``serve`` runs around its listeners (the broker subscription,
  the app's lifespans and background tasks, see _lifecycle.py) and keeps it running until
  shutdown, which closes the remaining sessions with 1001 and ends the lifespans. A Starlette app
  does not pass its lifespan on to mounted apps: give it ``lifespan=socket_app.asgi_lifespan``.
- ``websocket``: the same handshake rules as the native server (connection limit, allowed hosts,
  paths and origins, the ``on_handshake`` hooks), refused with their HTTP status where the ASGI
  server supports the ``websocket.http.response`` extension (else with its default, 403); then an
  ``AsgiSession`` speaks the same protocol through the same dispatcher, hub and ``Outbox``.
- ``http``: the native server's HTTP routes (``/healthz``, ``/metrics``, ``/asyncapi.json``,
  ``/socketapi.js``, ``app.static`` files; see _http.py), answered from the same pure rules.

The protocol code runs on trio, so under an asyncio server (uvicorn) the lifespan startup (or,
without one, each handshake) fails with ``NOT_ON_TRIO``, which names the ways to serve the app;
nothing of trio is touched before that check.

What the ASGI path leaves to the ASGI server: TCP, TLS, keepalive pings (hypercorn's
``websocket_ping_interval``), and message framing (frames already encoded for the native fast
path are split back into messages for ``websocket.send``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

import sniffio
import trio

from ._connection import Connection
from ._counters import Counters
from ._dispatch import Dispatcher, is_cancellation
from ._frames import text_payloads
from ._handshake import HandshakeRefused
from ._http import HttpRequest, Site, StaticFile, answer
from ._http_io import read_static
from ._hub import Hub
from ._peer import PeerSession
from ._protocol import (
    HOOK_FAILED,
    CloseCode,
    Refusal,
)
from ._server import Server, open_server
from ._settings import Settings

if TYPE_CHECKING:
    from ._app import SocketAPI

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

logger = logging.getLogger("trio_socketapi")

NOT_ON_TRIO = (
    "trio_socketapi runs on trio, and this ASGI server runs on {library}. Serve the app with"
    " app.run(), with `python -m trio_socketapi module:app`, or with an ASGI server on trio:"
    " `hypercorn -k trio module:app`."
)
NOT_STARTED = (
    "the SocketAPI's ASGI lifespan has not run, so it is not serving: enable the server's"
    " lifespan (hypercorn runs it by default), or, mounted in Starlette, pass"
    " `lifespan=socket_app.asgi_lifespan` to the Starlette app"
)


NOT_SERVING: Final = Refusal(503, "Service Unavailable")
"""A handshake while the app's ASGI lifespan has not started it (or has ended it)."""


class AsgiApp:
    """The ASGI entry point of one ``SocketAPI`` (what ``SocketAPI.__call__`` runs)."""

    def __init__(self, app: SocketAPI) -> None:
        self._app = app
        self._server: Server | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI scope."""
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, send)
            return
        library = _async_library()
        if library != "trio":
            logger.error(NOT_ON_TRIO.format(library=library))
            if kind == "lifespan":
                await receive()  # lifespan.startup
                await send(
                    {
                        "type": "lifespan.startup.failed",
                        "message": NOT_ON_TRIO.format(library=library),
                    }
                )
            elif kind == "websocket":
                await send({"type": "websocket.close", "code": CloseCode.INTERNAL_ERROR})
            return
        if kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            raise ValueError(f"unknown ASGI scope type {kind!r}")

    async def _http(self, scope: Scope, send: Send) -> None:
        if _async_library() != "trio":  # the routes read files on trio's threads
            await _not_found(send)
            return
        server = self._server or Server(self._app._core, self._app.settings)
        await _answer_http(scope, send, server.http_site())

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """Run the app (broker, lifespans, background tasks) for the duration of the block;
        sessions opened meanwhile are closed with 1001 at its end. Raises what ``serve`` would:
        the error of a failed lifespan, background task or broker."""
        if self._server is not None:
            raise RuntimeError("this SocketAPI is already serving over ASGI")
        server = Server(self._app._core, self._app.settings)
        async with open_server(server):
            self._server = server
            try:
                yield
            finally:
                self._server = None

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup", message
        started = False
        try:
            async with self.serving():
                started = True
                await send({"type": "lifespan.startup.complete"})
                message = await receive()
                assert message["type"] == "lifespan.shutdown", message
        except Exception as exc:
            logger.exception("ASGI lifespan failed")
            failed = "lifespan.shutdown.failed" if started else "lifespan.startup.failed"
            await send({"type": failed, "message": f"{type(exc).__name__}: {exc}"})
            return
        await send({"type": "lifespan.shutdown.complete"})

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return  # the client left before the handshake
        server = self._server
        if server is None:
            logger.error(NOT_STARTED)
            await _refuse(scope, send, *NOT_SERVING)
            return
        connection = _connection_of(scope)
        settings = server.settings
        with trio.move_on_after(settings.handshake_timeout) as timer:
            refused = await server.admit(connection, tls=scope.get("scheme") == "wss")
        if timer.cancelled_caught:  # a hook that took too long
            server.core.counters.handshakes_refused += 1
            logger.error("handshake hooks timed out for %s", _peer_text(connection.remote))
            refused = HandshakeRefused(*HOOK_FAILED)
        if refused is not None:
            await _refuse(scope, send, refused.status_code, refused.reason)
            return
        await send({"type": "websocket.accept"})
        session = AsgiSession(
            receive,
            send,
            connection,
            server.dispatcher,
            server.hub,
            settings,
            server.core.counters,
        )
        logger.info("connection open: %s %s", _peer_text(connection.remote), connection.path)
        await server.run_session(session, session.run, connection.id)
        logger.info(
            "connection closed: %s code=%s", _peer_text(connection.remote), session.close_code
        )


class AsgiSession(PeerSession):
    """One accepted ASGI WebSocket: the reader, the ``Outbox`` on ASGI ``send``, the close.

    The same rules as the native ``Session`` (both are a ``PeerSession``, see _peer.py).
    Keepalive pings are the ASGI server's, so ``ping_if_silent`` does nothing.
    """

    def __init__(
        self,
        receive: Receive,
        send: Send,
        connection: Connection,
        dispatcher: Dispatcher,
        hub: Hub,
        settings: Settings,
        counters: Counters,
    ) -> None:
        self._receive = receive
        self._send = send
        self._client_gone = False  # disconnected, or a send failed: nothing more can be sent
        super().__init__(
            connection,
            dispatcher,
            hub,
            settings,
            counters,
            write_nowait=None,
            send_all=self._send_frames,
        )

    def ping_if_silent(self, now: float, interval: float) -> None:
        """Nothing: the ASGI server keeps the connection alive."""

    def read_ahead_if_stuck(self) -> None:
        """Nothing: the ASGI server reads, whatever the session is busy with."""

    async def run(self) -> None:
        """Serve until the client leaves or ``close`` is called; then send the close."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._outbox.bind(nursery)
                if self.close_code is not None:
                    nursery.cancel_scope.cancel()
                try:
                    await self._read_loop(nursery)
                finally:
                    self._outbox.close()
                    nursery.cancel_scope.cancel()
        except BaseException as exc:
            if not is_cancellation(exc):
                raise
            # The ASGI server is stopping this connection (its own shutdown): say so.
            self.close(CloseCode.GOING_AWAY)
            with trio.CancelScope(shield=True):
                await self._send_close()
            raise
        finally:
            self._nursery = None
            self._hub.remove(self)
        await self._send_close()

    async def _send_close(self) -> None:
        if self.close_code is None or self._client_gone:
            return
        self._client_gone = True  # one close only
        with trio.move_on_after(self._settings.close_timeout):
            try:
                await self._send(
                    {
                        "type": "websocket.close",
                        "code": self.close_code,
                        "reason": self.close_reason,
                    }
                )
            except Exception:  # the client is gone already
                logger.debug("close frame not sent to %s", self.connection.remote, exc_info=True)

    async def _send_frames(self, frames: bytes) -> None:
        """The outbox's waiting write: each encoded frame becomes one ``websocket.send``."""
        try:
            for payload in text_payloads(frames):
                await self._send({"type": "websocket.send", "text": payload.decode()})
        except Exception as exc:  # the ASGI server refuses sends once the client is gone
            self._client_gone = True
            if self._nursery is not None:
                self._nursery.cancel_scope.cancel()
            raise trio.BrokenResourceError("connection closed") from exc

    async def _read_loop(self, nursery: trio.Nursery) -> None:
        limit = self._settings.max_message_size
        while True:
            message = await self._receive()
            if message["type"] == "websocket.disconnect":
                self._client_gone = True
                return
            raw: str | bytes | None = message.get("text")
            if raw is None:
                raw = message.get("bytes") or b""
            self._counters.messages_in += 1
            size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
            if size > limit:
                self.close(CloseCode.MESSAGE_TOO_BIG)
                return
            await self.handle_message(raw, nursery)


def _async_library() -> str:
    try:
        return sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return "an unknown event loop"


def _connection_of(scope: Scope) -> Connection:
    """The ``Connection`` of an ASGI ``websocket`` scope (its path relative to a mount)."""
    path: str = scope.get("path") or "/"
    root: str = scope.get("root_path") or ""
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    query = scope.get("query_string") or b""
    target = f"{path}?{query.decode('latin-1')}" if query else path
    headers = [(bytes(name).lower(), bytes(value)) for name, value in scope.get("headers", ())]
    client = scope.get("client")
    remote = (str(client[0]), int(client[1])) if client else None
    return Connection.from_handshake(target, headers, remote)


async def _refuse(scope: Scope, send: Send, status: int, reason: str) -> None:
    """Refuse a handshake with ``status`` where the server lets us, else with a plain close."""
    if "websocket.http.response" in scope.get("extensions", {}):
        body = reason.encode()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": CloseCode.POLICY_VIOLATION})


async def _answer_http(scope: Scope, send: Send, site: Site) -> None:
    """Answer an ``http`` scope by the native server's routes (``_http.answer``)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    path = scope.get("raw_path") or scope.get("path", "/").encode()
    target = path.decode("latin-1") if isinstance(path, bytes) else str(path)
    method = str(scope.get("method", "GET"))
    request = HttpRequest(method, target, f"HTTP/{scope.get('http_version', '1.1')}", headers)
    outcome = answer(request, site)
    response = await read_static(outcome) if isinstance(outcome, StaticFile) else outcome
    response_headers = [
        (b"content-type", response.content_type.encode("latin-1")),
        (b"content-length", str(len(response.body)).encode()),
        (b"x-content-type-options", b"nosniff"),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers),
    ]
    await send(
        {"type": "http.response.start", "status": response.status, "headers": response_headers}
    )
    body = b"" if method == "HEAD" else response.body
    await send({"type": "http.response.body", "body": body})


async def _not_found(send: Send) -> None:
    body = b"Not Found"
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _peer_text(peer: tuple[str, int] | None) -> str:
    return f"{peer[0]}:{peer[1]}" if peer else "in-memory"
