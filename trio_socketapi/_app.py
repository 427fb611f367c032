"""``SocketAPI``: the application object users decorate, include routers into, and serve."""

from __future__ import annotations

import contextlib
import functools
import hmac
import logging
import os
import signal
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar

import trio

from ._asgi import AsgiApp, Receive, Scope, Send
from ._asyncapi import build_document
from ._broker import Broker, MemoryBroker
from ._connection import Connection
from ._core import AppCore, HandshakeHook
from ._counters import Counters
from ._forward import forward_publish
from ._handlers import ActionHandler, ChannelHandler, decorating_scope
from ._history import History
from ._http import mount
from ._lifecycle import LifecycleDecorators, single_error
from ._listeners import BindError
from ._metrics import Metrics
from ._registry import Registry
from ._router import Router
from ._scheduling import fifo_scheduling
from ._server import serve
from ._settings import Settings

P = ParamSpec("P")
R = TypeVar("R")

logger = logging.getLogger("trio_socketapi")

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


class SocketAPI(LifecycleDecorators):
    """A WebSocket API of actions and channels, served over one multiplexed connection.

    ``host`` and ``port`` are where ``run``/``serve`` listen by default and where a process that
    serves nothing forwards its broadcasts. ``broadcast_allowed_hosts`` (loopback by default, or
    ``("*",)`` for any) and the optional ``broadcast_token`` decide who may publish from outside.

    It is also an ASGI 3 application for ASGI servers on trio (``hypercorn -k trio module:app``,
    or mounted in a Starlette app served that way): see docs/asgi.md.
    """

    def __init__(
        self,
        host: str = "localhost",
        port: int = 8000,
        broadcast_allowed_hosts: Sequence[str] = LOOPBACK_HOSTS,
        *,
        broadcast_token: str | None = None,
        broker: Broker | None = None,
        settings: Settings | None = None,
        title: str = "trio_socketapi app",
        version: str = "0.1.0",
        description: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.broadcast_allowed_hosts = tuple(broadcast_allowed_hosts)
        self.broadcast_token = broadcast_token
        self.settings = settings or Settings()
        self._registry = Registry()
        self._core = AppCore(
            self._registry, broker or MemoryBroker(), _PublishPolicy(self), _Forwarder(self)
        )
        """What this app's servers and channels share (the seam, see _core.py)."""
        self._core.document = self.asyncapi
        self.title = title
        """The API's name in its AsyncAPI document."""
        self.version = version
        """The API's version in its AsyncAPI document."""
        self.description = description
        """The API's description in its AsyncAPI document (Markdown)."""
        self._asgi = AsgiApp(self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve an ASGI ``websocket``, ``lifespan`` or ``http`` (404) scope, on trio only.

        Under an asyncio server the lifespan startup (without one, each handshake) fails with a
        message naming the ways to serve the app.
        """
        await self._asgi(scope, receive, send)

    def asgi_lifespan(self, _app: object = None) -> AbstractAsyncContextManager[None]:
        """Serve over ASGI for the duration of the block (the broker, lifespans, background
        tasks), for a host app whose lifespan mounted apps do not get:
        ``Starlette(routes=[Mount("/ws", app=socket_app)], lifespan=socket_app.asgi_lifespan)``.
        Raises the error of a failed lifespan, background task or broker."""
        return self._asgi.serving()

    @property
    def broker(self) -> Broker:
        """Where broadcasts are published and this app's servers receive them."""
        return self._core.broker

    @property
    def counters(self) -> Counters:
        """Running totals (connections, subscriptions, messages, slow-consumer closes)."""
        return self._core.counters

    @property
    def metrics(self) -> Metrics:
        """Action-latency and fan-out histograms (recorded while ``settings.serve_metrics``)."""
        return self._core.metrics

    @property
    def publishes_here(self) -> bool:
        """Whether a broadcast is published from this process (to the broker) rather than
        forwarded to the server at ``host``:``port``: a server runs here, or the broker is shared.
        """
        return self._core.publishes_here

    def channel(
        self,
        name: str,
        *,
        default_response: bool = False,
        history: History | None = None,
        presence: bool = False,
    ) -> Callable[[Callable[P, Awaitable[R]]], ChannelHandler[P, R]]:
        """Declare a channel; awaiting the decorated function broadcasts its result.

        ``default_response`` (``False`` here, ``True`` on ``Router.channel``, as in socketapi)
        sends the function's result to a client right after its ``subscribed``. A ``subscribe``
        calls the function with its ``RequiredOnSubscribe`` parameters (the subscription key) and
        any others the client sent, all validated; if a parameter without a default was not sent,
        the subscription is made without calling it (and without a default response).
        ``history`` keeps each stream's publications so reconnecting clients recover,
        ``presence`` tracks who is subscribed to each stream (docs/history.md).
        Raises ``ValueError`` if a channel of that name exists.
        """

        def decorate(func: Callable[P, Awaitable[R]]) -> ChannelHandler[P, R]:
            handler = ChannelHandler(
                func,
                name,
                default_response,
                history=history,
                presence=presence,
                local_names=decorating_scope(),
            )
            self._registry.add_channel(handler)
            handler._bind(self._core)
            return handler

        return decorate

    def action(self, name: str) -> Callable[[Callable[P, Awaitable[R]]], ActionHandler[P, R]]:
        """Declare an action (request/response). Raises ``ValueError`` if the name exists."""

        def decorate(func: Callable[P, Awaitable[R]]) -> ActionHandler[P, R]:
            handler = ActionHandler(func, name, local_names=decorating_scope())
            self._registry.add_action(handler)
            return handler

        return decorate

    def on_handshake(self, hook: HandshakeHook) -> HandshakeHook:
        """Register ``async def hook(connection)``, run before each connection is accepted.

        Raise ``HandshakeRefused(401, "...")`` in it to refuse the client with that HTTP status;
        anything it stores in ``connection.state`` is there for every handler. Any other
        exception refuses with 500 and is logged. Hooks run in registration order, within the
        handshake timeout.
        """
        self._core.handshake_hooks.append(hook)
        return hook

    def asyncapi(self, *, host: str | None = None, port: int | None = None) -> dict[str, Any]:
        """The AsyncAPI 3.0.0 document of this app's actions and channels, as a dict.

        One ``ws`` server at ``host``:``port`` (by default the app's; ``/asyncapi.json`` names
        the address the server listens on, with the port it got); every action and channel with its
        frames, their JSON Schemas from the handlers' annotations (``Connection`` parameters
        left out), path parameters as channel parameters, titles and descriptions from
        docstrings (docs/asyncapi.md). Served at ``GET /asyncapi.json`` unless
        ``settings.serve_asyncapi`` is off; ``trio-socketapi asyncapi module:app`` prints it.
        """
        return build_document(
            self._registry,
            title=self.title,
            version=self.version,
            description=self.description,
            host=self.host if host is None else host,
            port=self.port if port is None else port,
        )

    def static(self, path: str, directory: str | os.PathLike[str]) -> None:
        """Serve the files under ``directory`` at URL ``path`` over plain HTTP on the same port.

        ``app.static("/", "static")`` answers ``GET /app.js`` with ``static/app.js`` and ``GET /``
        with ``static/index.html``, with a content type from the file's suffix; a WebSocket
        upgrade on any path still goes to the API. Nothing outside the directory is served (no
        ``..``, no dotfiles, no symlinks out of it) and directories are not listed: those, and
        missing files, get 404. Files are read per request, so they may change while serving.
        Raises ``ValueError`` if ``path`` is not like ``/static``, is mounted already, or
        ``directory`` is not a directory.
        """
        static = mount(path, Path(directory))
        mounts = self._core.static_mounts
        if any(m.prefix == static.prefix for m in mounts):
            raise ValueError(f"static path {path!r} is already mounted")
        mounts.append(static)

    def include_router(self, router: Router) -> None:
        """Serve a router's channels and actions under their plain names.

        Raises ``ValueError``, including nothing, if a name is already taken by another handler.
        """
        self._registry.merge(router._registry)
        for handler in router._registry.channels.values():
            handler._bind(self._core)

    async def serve(
        self,
        host: str | None = None,
        port: int | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        reuse_port: bool = False,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until cancelled: ``port = await nursery.start(app.serve, "127.0.0.1", 0)``.

        ``host``/``port`` default to the app's. Reports the bound port to ``nursery.start``.
        Raises ``OSError`` if the address cannot be bound (``ValueError`` for a port outside
        0-65535), and the error of a failed lifespan or background task. On cancellation every
        client gets close code 1001; the call returns once all connections are closed (at most
        ``settings.shutdown_timeout`` later). With ``ssl_context``, serves TLS (``wss://``);
        with ``reuse_port``, shares the port with other processes (``SO_REUSEPORT``).
        """
        await serve(
            self._core,
            self.host if host is None else host,
            self.port if port is None else port,
            self.settings,
            ssl_context=ssl_context,
            reuse_port=reuse_port,
            task_status=task_status,
        )

    def run(
        self,
        host: str | None = None,
        port: int | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        reuse_port: bool = False,
        scheduling: Literal["fifo", "trio"] = "fifo",
    ) -> None:
        """Serve in a new trio loop until Ctrl-C or SIGTERM, then shut down cleanly.

        If the address cannot be listened on (the port is busy), exits with one line naming it,
        ``error: cannot listen on 127.0.0.1:8000: Address already in use``, not a traceback.
        ``scheduling="fifo"`` runs woken tasks first woken, first run, which keeps tail latency
        down under load; ``"trio"`` keeps trio's random order (see docs/performance.md).
        """
        if scheduling not in ("fifo", "trio"):
            raise ValueError(f"scheduling must be 'fifo' or 'trio', not {scheduling!r}")
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(message)s")
        serve = functools.partial(
            self.serve, host, port, ssl_context=ssl_context, reuse_port=reuse_port
        )
        order = fifo_scheduling() if scheduling == "fifo" else contextlib.nullcontext()
        try:
            with order:
                trio.run(self._serve_until_signal, serve)
        except BindError as exc:
            raise SystemExit(f"error: {exc}") from None
        except KeyboardInterrupt:
            # Ctrl-C outside the signal receiver's life: before serving began, or in the
            # instant after the server stopped (trio hands such a signal back on exit).
            logger.info("interrupted")

    async def _serve_until_signal(self, serve: Callable[[], Awaitable[None]]) -> None:
        failure: Exception | None = None
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            try:
                async with trio.open_nursery() as nursery:
                    serving = trio.CancelScope()
                    nursery.start_soon(_stop_on_signals, signals, serving)
                    with serving:
                        await serve()
                    nursery.cancel_scope.cancel()
            except Exception as exc:  # it could not start, or a background task failed
                failure = single_error(exc)  # raised below, bare, not in a group
        if failure is not None:
            raise failure


async def _stop_on_signals(signals: AsyncIterator[int], serving: trio.CancelScope) -> None:
    """Cancel ``serving`` at the first signal; later ones (a second Ctrl-C) are only logged,
    so none is left over to be raised once the server has stopped."""
    async for signum in signals:
        name = signal.Signals(signum).name
        if serving.cancel_called:
            logger.info("%s received again, still shutting down", name)
        else:
            logger.info("%s received, shutting down", name)
            serving.cancel()


class _Forwarder:
    """Forwards to the server at the app's ``host``:``port``, as they are at the time."""

    def __init__(self, app: SocketAPI) -> None:
        self._app = app

    @property
    def address(self) -> tuple[str, int]:
        return (self._app.host, self._app.port)

    async def forward(self, channel: str, arguments: dict[str, Any]) -> None:
        app = self._app
        await forward_publish(app.host, app.port, channel, arguments, app.broadcast_token)


class _PublishPolicy:
    def __init__(self, app: SocketAPI) -> None:
        self._app = app

    def allows(self, connection: Connection, token: object) -> bool:
        app = self._app
        hosts = app.broadcast_allowed_hosts
        if "*" not in hosts and (connection.remote is None or connection.remote[0] not in hosts):
            return False
        if app.broadcast_token is not None:
            return isinstance(token, str) and hmac.compare_digest(token, app.broadcast_token)
        return True
