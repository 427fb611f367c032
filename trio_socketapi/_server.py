"""Accepting connections: listeners, the opening handshake, and shutdown with code 1001.

A ``Server`` is built on an app's ``AppCore`` (_core.py), not on the app. Each connection runs in
its own task under a cancel scope that outside cancellation does not reach: when ``serve`` is
cancelled, ``Server.shutdown`` first asks every session to close with 1001 (so clients get a
real closing handshake, concurrently), waits at most ``shutdown_timeout``, and only then
cancels whatever is left.

``open_server`` runs what surrounds a server for as long as it serves, in this order. Starting:
the broker subscription first (so a lifespan or background task can broadcast), then the
lifespans in registration order, then the background tasks and the sweep (keepalive pings,
read-ahead), then the caller's block (which accepts connections). Stopping, whether the block
ended, failed or was cancelled: the background tasks are cancelled, every connection is closed
with 1001, then the lifespans' teardown runs (so handlers can use what a lifespan opened until
the last client is gone).
"""

from __future__ import annotations

import logging
import math
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Literal, Protocol

import pydantic
import trio

from ._broker import Broadcast
from ._connection import Connection
from ._core import AppCore, DocumentBuilder
from ._dispatch import Dispatcher
from ._frames import text_frame
from ._handshake import LOOPBACK_HOSTS, HandshakeRefused, check_handshake, is_loopback
from ._http import Site
from ._http_io import answer_unless_upgrade
from ._hub import Hub
from ._lifecycle import single_error
from ._listeners import open_listeners
from ._metrics import render
from ._open_files import ensure_open_files_for
from ._presence import LocalPresence, encode_presence_event
from ._protocol import (
    HOOK_FAILED,
    SHUTTING_DOWN,
    TOO_MANY_CONNECTIONS,
    CloseCode,
    to_json,
)
from ._session import Session
from ._settings import Settings
from ._websocket import WebSocketProtocol
from ._wire import ServerTransport, accept, peer_address, read_upgrade_request, refuse

logger = logging.getLogger("trio_socketapi")

SWEEP_PERIOD = 1.0
"""Seconds between the sweeps over the connections, at most."""


class ServedSession(Protocol):
    """What the server needs of a session, whatever its transport (WebSocket stream, ASGI)."""

    def close(self, code: CloseCode, reason: str | None = None) -> None:
        """Close the session with ``code`` (the first code wins)."""

    def ping_if_silent(self, now: float, interval: float) -> None:
        """Ping the client if it has been silent for ``interval``."""

    def read_ahead_if_stuck(self) -> None:
        """Keep reading for a reader busy since the last sweep (see _session.py)."""


class Server:
    """The connections of one running server of an app."""

    def __init__(
        self, core: AppCore, settings: Settings, *, tls: bool = False, loopback: bool = False
    ) -> None:
        self.settings = settings
        self.tls = tls
        # The Host patterns accepted: the setting, or by default loopback names when serving
        # only on loopback addresses and any host otherwise (in-memory servers too).
        self.allowed_hosts: tuple[str, ...] | Literal["*"] = (
            settings.allowed_hosts
            if settings.allowed_hosts is not None
            else LOOPBACK_HOSTS
            if loopback
            else "*"
        )
        self.core = core
        """What this server serves of its app: handlers, broker, hooks, counters."""
        self.hub = Hub(core.counters)
        self.presence = LocalPresence()
        """The presence entries of this server's connections."""
        self.address: tuple[str | None, int] | None = None
        """The host it was asked to listen on and the port it got, once it listens (``serve``)."""
        self._metrics = core.metrics if settings.serve_metrics else None
        self._dispatcher = Dispatcher(
            core.registry,
            self.hub,
            core.publish_policy,
            settings,
            core.counters,
            core.broker,
            self._metrics,
            self.presence,
        )
        self._connections: dict[trio.CancelScope, ServedSession | None] = {}
        self._drained = trio.Event()
        self._shutting_down = False
        self.listening = trio.CancelScope()
        """Where the listeners run: shielded once they have started (see ``serve``), so that
        while the clients are closed with 1001 new requests are still answered (``/healthz``
        with 503, a handshake with 503); cancelled once ``shutdown`` is done."""
        self._shutdown_deadline = math.inf  # after it no connection lingers any longer

    async def handle_stream(
        self, stream: trio.abc.Stream, *, remote: tuple[str, int] | None = None
    ) -> None:
        """Serve one transport stream (TCP, TLS or in-memory) from handshake to close.

        Every connection ends in ``ServerTransport.finish`` (close frame, discarding what the
        client still sends, close), whatever path it took, cancellation included.
        """
        transport = ServerTransport(stream)
        # Outside cancellation stops at this scope: shutdown() closes each connection itself.
        # The connection counts until its closing handshake is over, so shutdown waits for it.
        scope = trio.CancelScope(shield=True)
        self._connections[scope] = None
        session: Session | None = None
        try:
            with scope:
                try:
                    await self._serve_stream(transport, scope, remote)
                finally:
                    served = self._connections[scope]
                    session = served if isinstance(served, Session) else None
                    self._connections[scope] = None  # only the closing handshake is left
        except Exception:
            logger.exception("connection failed")
        finally:
            try:
                await transport.finish(
                    close_timeout=self.settings.close_timeout,
                    not_after=self._shutdown_deadline,
                )
            finally:
                del self._connections[scope]
                if not self._connections:
                    self._drained.set()
            if session is not None:
                _log_closed(session, transport)

    @property
    def dispatcher(self) -> Dispatcher:
        """Handles the messages of every session of this server."""
        return self._dispatcher

    @property
    def shutting_down(self) -> bool:
        """Whether ``shutdown`` has begun (new sessions are refused)."""
        return self._shutting_down

    async def run_session(
        self, session: ServedSession, run: Callable[[], Awaitable[None]], client_id: str
    ) -> None:
        """Run an accepted session of another transport (ASGI) under this server's rules:
        ``shutdown`` closes it with 1001 and, past ``shutdown_timeout``, cancels ``run``; its
        presence entries are announced gone when it ends."""
        with trio.CancelScope() as scope:
            self._connections[scope] = session
            counters = self.core.counters
            counters.connections_open += 1
            counters.connections_total += 1
            try:
                await run()
            finally:
                counters.connections_open -= 1
                del self._connections[scope]
                if not self._connections:
                    self._drained.set()
                await self._announce_leaves(client_id)

    def deliver(self, broadcast: Broadcast) -> None:
        """Deliver a broadcast from the broker to this server's subscribers."""
        handler = self.core.registry.channels.get(broadcast.channel)
        if handler is None:
            logger.warning("broadcast to unknown channel %r dropped", broadcast.channel)
            return
        unknown = set(broadcast.key) - set(handler.signature.key_params)
        if unknown:
            # Never widen: a key the channel does not have must not reach every subscriber.
            logger.warning(
                "broadcast to %r with unknown key fields %s dropped", handler.name, sorted(unknown)
            )
            return
        try:
            key = handler.signature.validate_key(broadcast.key)
        except pydantic.ValidationError as exc:
            logger.warning("broadcast to %r with an invalid key dropped: %s", handler.name, exc)
            return
        try:
            channel = handler.concrete_name(key)  # "chat/42" for "chat/{room_id}"
        except ValueError as exc:
            logger.warning("broadcast to %r dropped: %s", handler.name, exc)
            return
        if broadcast.event is not None:
            if handler.presence_enabled and len(key) == len(handler.signature.key_params):
                self.hub.notify(channel, key, _event_frame(channel, key, broadcast.event))
            return
        positions = None
        if broadcast.positions is not None:
            positions = {key: (offset, epoch) for key, offset, epoch in broadcast.positions}
        delivered = self.hub.publish(
            channel, key, len(handler.signature.key_params), broadcast.data_json, positions
        )
        if self._metrics is not None:
            self._metrics.observe_fanout(handler.name, delivered)

    def http_site(self) -> Site:
        """What a plain HTTP request on this server's port is answered from, right now."""
        core = self.core
        settings = self.settings
        return Site(
            serving=not self._shutting_down,
            metrics=(lambda: render(core.counters, core.metrics))
            if settings.serve_metrics
            else None,
            asyncapi=_document_json(core.document, self.address)
            if settings.serve_asyncapi
            else None,
            mounts=core.static_mounts,
            allowed_hosts=self.allowed_hosts,
        )

    async def run_broker(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Receive the app's broadcasts from its broker while this server runs."""
        with self.core.serving():
            await self.core.broker.run(self.deliver, task_status=task_status)

    async def run_sweep(self) -> None:
        """Sweep the connections about once a second, or every quarter ``ping_interval`` if
        that is shorter: ping the silent ones, and read ahead for readers stuck behind a
        message (see _session.py).

        A client is pinged after between 1 and 1.25 ``ping_interval`` of silence.
        """
        ping_interval = self.settings.ping_interval
        period = SWEEP_PERIOD if ping_interval is None else min(SWEEP_PERIOD, ping_interval / 4)
        while True:
            await trio.sleep(period)
            now = trio.current_time()
            for session in list(self._connections.values()):
                if session is not None:
                    session.read_ahead_if_stuck()
                    if ping_interval is not None:
                        session.ping_if_silent(now, ping_interval)

    async def shutdown(self) -> None:
        """Close every connection with 1001, waiting at most ``shutdown_timeout`` for them; then
        stop listening."""
        try:
            await self._close_all()
        finally:
            self.listening.cancel()

    async def _close_all(self) -> None:
        self._shutting_down = True
        self._shutdown_deadline = trio.current_time() + self.settings.shutdown_timeout
        for scope, session in list(self._connections.items()):
            if session is None:
                scope.cancel()
            else:
                session.close(CloseCode.GOING_AWAY)
        if self._connections:
            self._drained = trio.Event()
            with trio.move_on_after(self.settings.shutdown_timeout):
                await self._drained.wait()
        for scope in list(self._connections):
            scope.cancel()

    async def _serve_stream(
        self,
        transport: ServerTransport,
        scope: trio.CancelScope,
        remote: tuple[str, int] | None,
    ) -> None:
        settings = self.settings
        session = None
        peer = remote or peer_address(transport.transport)
        with trio.move_on_after(settings.handshake_timeout) as handshake:
            session = await self._open_session(transport, peer)
        if handshake.cancelled_caught:
            self.core.counters.handshakes_timed_out += 1
            logger.debug(
                "handshake dropped: %s did not complete it in %s s",
                _peer_text(peer),
                settings.handshake_timeout,
            )
        if session is None or self._shutting_down:
            return
        self._connections[scope] = session
        counters = self.core.counters
        counters.connections_open += 1
        counters.connections_total += 1
        logger.info("connection open: %s %s", _peer_text(peer), session.connection.path)
        try:
            await session.run()
        except Exception:
            logger.exception("internal error on connection %s", _peer_text(peer))
            session.close(CloseCode.INTERNAL_ERROR)
            await session.send_close_frame()
        finally:
            counters.connections_open -= 1
        await self._announce_leaves(session.connection.id)

    async def run_presence(self) -> None:
        """Let the broker count (and refresh) this server's presence entries while it serves."""
        await self.core.broker.keep_presence(self.presence)

    async def _announce_leaves(self, client_id: str, channel: str | None = None) -> None:
        """A connection left its presence streams (of ``channel``, or all): tell everyone.

        Bounded by ``close_timeout``; a leave that cannot be announced (Redis down) is logged
        and its entry, gone here, expires where it is shared.
        """
        left = self.presence.remove_client(client_id, channel)
        if not left:
            return
        with trio.move_on_after(self.settings.close_timeout) as bounded:
            bounded.shield = True
            await self._dispatcher.announce_leaves(client_id, left)

    async def admit(self, connection: Connection, *, tls: bool) -> HandshakeRefused | None:
        """Apply the handshake rules to ``connection``: draining, the connection limit, host,
        path and origin, then the app's hooks in order.

        Returns ``None`` to accept, or the refusal to answer with, counted and logged (a hook
        that raises anything but ``HandshakeRefused`` refuses with 500, its traceback logged).
        Both the native server and the ASGI entry point admit clients through here.
        """
        settings = self.settings
        try:
            if self._shutting_down:
                raise HandshakeRefused(*SHUTTING_DOWN)
            if self.core.counters.connections_open >= settings.max_connections:
                raise HandshakeRefused(*TOO_MANY_CONNECTIONS)
            check_handshake(
                connection.path,
                connection.headers,
                tls,
                self.allowed_hosts,
                settings.allowed_paths,
                settings.allowed_origins,
            )
            for hook in self.core.handshake_hooks:
                await hook(connection)
        except HandshakeRefused as refused:
            self.core.counters.handshakes_refused += 1
            logger.warning(
                "handshake refused: %s %s host=%s origin=%s -> %d %s",
                _peer_text(connection.remote),
                connection.path,
                connection.headers.get("host"),
                connection.headers.get("origin"),
                refused.status_code,
                refused.reason,
            )
            return refused
        except Exception:
            self.core.counters.handshakes_refused += 1
            logger.exception("handshake hook failed for %s", _peer_text(connection.remote))
            return HandshakeRefused(*HOOK_FAILED)
        return None

    async def _open_session(
        self,
        transport: ServerTransport,
        peer: tuple[str, int] | None,
    ) -> Session | None:
        """Run the opening handshake; return the session, or ``None`` if it was refused."""
        settings = self.settings
        received = await answer_unless_upgrade(transport.transport, self.http_site)
        if received is None:  # plain HTTP, answered (or nothing but a closed stream)
            return None
        request = await read_upgrade_request(transport, received)
        if request is None:  # not one wsproto accepts: refused already
            return None
        connection = Connection.from_handshake(request.path, request.headers, peer, request.host)
        refused = await self.admit(connection, tls=self.tls)
        if refused is not None:
            await refuse(transport, request, refused.status_code, refused.reason.encode())
            return None
        protocol = WebSocketProtocol(
            await accept(transport, request), max_message_size=settings.max_message_size
        )
        transport.protocol = protocol
        session = Session(
            transport,
            protocol,
            connection,
            self._dispatcher,
            self.hub,
            settings,
            self.core.counters,
            received=request.after_head,
        )
        return session


async def serve(
    core: AppCore,
    host: str | None,
    port: int,
    settings: Settings,
    *,
    ssl_context: ssl.SSLContext | None = None,
    reuse_port: bool = False,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on ``host``:``port`` and serve the app until cancelled; report the bound port."""
    if not 0 <= port <= 65535:  # the OS would quietly take it modulo 65536
        raise ValueError(f"port must be 0-65535, got {port}")
    ensure_open_files_for(settings.max_connections)
    listeners: list[Any] = list(await open_listeners(host, port, reuse_port=reuse_port))
    bound_port: int = listeners[0].socket.getsockname()[1]
    loopback = all(is_loopback(listener.socket.getsockname()[0]) for listener in listeners)
    if ssl_context is not None:
        listeners = [trio.SSLListener(listener, ssl_context) for listener in listeners]
    server = Server(core, settings, tls=ssl_context is not None, loopback=loopback)
    server.address = (host, bound_port)
    try:
        async with open_server(server) as nursery:
            await nursery.start(_listen, server, listeners, nursery)
            # Shielded only now: a cancellation while starting must still stop the listener
            # (trio leaves a task that is cancelled before it has started where it is).
            server.listening.shield = True
            scheme = "wss" if ssl_context is not None else "ws"
            shown = f"[{host}]" if host and ":" in host else host or "0.0.0.0"  # IPv6 in brackets
            logger.info("serving on %s://%s:%d/", scheme, shown, bound_port)
            task_status.started(bound_port)
            await trio.sleep_forever()
    finally:
        # serve_listeners closes them once started; this covers a failure before that.
        with trio.CancelScope(shield=True):
            for listener in listeners:
                await listener.aclose()


@asynccontextmanager
async def open_server(server: Server) -> AsyncIterator[trio.Nursery]:
    """Run the app around ``server`` for the duration of the block; yield the nursery that
    connections run in.

    A failure of the broker, of a lifespan's setup, of a background task or of the block
    itself is raised as itself (not inside an exception group), after everything has stopped.
    The lifespans' teardown is shielded from cancellation but bounded by ``shutdown_timeout``.
    """
    core = server.core
    failure: Exception | None = None
    async with trio.open_nursery() as nursery:
        try:
            await nursery.start(server.run_broker)
        except Exception as exc:
            failure = exc
        else:
            entered: list[AbstractAsyncContextManager[None]] = []
            try:
                for lifespan in core.registry.lifespans:
                    starting = asynccontextmanager(lifespan)()
                    await starting.__aenter__()
                    entered.append(starting)
                async with trio.open_nursery() as background:
                    for task in core.registry.background_tasks:
                        background.start_soon(task)
                    background.start_soon(server.run_sweep)
                    background.start_soon(server.run_presence)
                    try:
                        yield nursery
                    finally:
                        # Stop the background tasks first, so none broadcasts into the closing.
                        background.cancel_scope.cancel()
                        with trio.CancelScope(shield=True):
                            await server.shutdown()
            except Exception as exc:
                failure = single_error(exc)
            finally:
                with trio.move_on_after(server.settings.shutdown_timeout) as teardown:
                    teardown.shield = True
                    # Each teardown runs as if serving had ended normally: a failing one is
                    # logged and raised later, and the ones before it still run.
                    for started in reversed(entered):
                        try:
                            await started.__aexit__(None, None, None)
                        except Exception as exc:
                            logger.exception("lifespan teardown failed")
                            failure = failure or exc
        nursery.cancel_scope.cancel()  # the broker subscription
    if failure is not None:
        raise failure


def _event_frame(channel: str, key: Mapping[str, Any], event: tuple[str, str, bytes]) -> bytes:
    kind, client_id, info_json = event
    params_json = to_json(dict(key)) if key else None
    return text_frame(
        encode_presence_event(kind, to_json(channel), params_json, client_id, info_json)
    )


def _log_closed(session: Session, transport: ServerTransport) -> None:
    """One line per closed connection: the close frame sent (if any) and the client's code."""
    peer = _peer_text(session.connection.remote)
    sent = transport.close_sent
    if sent is None:
        logger.info(
            "connection closed: %s without a close frame client_code=%s",
            peer,
            transport.close_received,
        )
    else:
        logger.info(
            "connection closed: %s code=%s reason=%s client_code=%s",
            peer,
            sent[0],
            sent[1],
            transport.close_received,
        )


async def _listen(
    server: Server,
    listeners: list[Any],
    nursery: trio.Nursery,
    *,
    task_status: trio.TaskStatus[list[Any]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept connections until ``server.shutdown`` has closed the last client."""
    with server.listening:
        await trio.serve_listeners(
            server.handle_stream, listeners, handler_nursery=nursery, task_status=task_status
        )


def _document_json(
    document: DocumentBuilder | None, address: tuple[str | None, int] | None
) -> Callable[[], bytes] | None:
    """``/asyncapi.json``'s body, built per request (the document is cheap and always current),
    naming the address the server listens on: the port it got, not the 0 it may have asked for."""
    if document is None:
        return None
    host, port = (None, None) if address is None else address
    return lambda: to_json(document(host=host, port=port))


def _peer_text(peer: tuple[str, int] | None) -> str:
    return f"{peer[0]}:{peer[1]}" if peer else "in-memory"
