"""A trio client for trio_socketapi servers (and socketapi 0.2.0 ones): ``connect(url)``.

::

    async with trio_socketapi.connect("ws://127.0.0.1:8000/") as client:
        total = await client.action("add", a=1, b=2)        # by name: the JSON result
        total = await client.action(add, a=1, b=2)          # typed from the server's handler
        async with client.subscribe("chat_room", room_id="a") as feed:
            async for message in feed:
                ...

Every request carries an ``id`` and many may wait for their replies at once; each reply is matched
by its ``id``. An error frame raises ``ActionError``; no reply within ``client.timeout`` seconds
raises ``trio.TooSlowError``; a request on a closed client raises ``ClientClosed``.

Reconnecting (``Reconnect``): when the connection drops without the user closing it (a server
restart, a network failure, close code 1001 …), requests waiting for a reply fail with
``ConnectionLost`` at once, and the client reconnects with exponential backoff and jitter,
subscribes again to every subscription still open, logs a line and calls ``on_reconnect``.
Feeds carry on; on a channel with history the client resubscribes from the last offset it
received, so the feed gets what was published meanwhile, each once and in order, or raises
``NotRecovered`` at that point (docs/history.md); on others that is not replayed. A refused
handshake (HTTP 403, 401 …) is never retried: the client closes with ``HandshakeRejected``;
only 503 is, because it passes (the server is shutting down, or full). The first connection is
not retried either: ``connect`` raises its error.

``compat=True`` talks to socketapi 0.2.0, which knows no ``id``: one request at a time, each
reply matched by order, and one subscription per channel (socketapi's ``unsubscribe`` leaves the
whole channel).

``connector`` replaces the TCP connection with any trio stream, so tests run app and client
together in memory (``connector=test_server.open_stream`` with ``trio_socketapi.testing``).
"""

from __future__ import annotations

import itertools
import logging
import random
import ssl
import sys
import urllib.parse
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, ParamSpec, TypeVar, cast, overload

import attrs
import trio
from trio_websocket import (
    CloseReason,
    ConnectionClosed,
    ConnectionRejected,
    HandshakeError,
    WebSocketConnection,
    connect_websocket_url,
    wrap_client_stream,
)

from ._client_feed import Feed, FeedOverflow, NotRecovered, Overflow
from ._client_protocol import (
    ActionError,
    MalformedFrame,
    Reconnect,
    ServerFrame,
    arguments_of,
    decoder_for,
    encode_request,
    feeds_data,
    normalise,
    parse_frame,
)
from ._handlers import ActionHandler, ChannelHandler
from ._protocol import MessageId, to_json

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = [
    "ActionError",
    "Client",
    "ClientClosed",
    "ConnectionLost",
    "HandshakeRejected",
    "Feed",
    "FeedOverflow",
    "NotRecovered",
    "Reconnect",
    "connect",
]

logger = logging.getLogger("trio_socketapi.client")

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_TIMEOUT = 10.0
"""Seconds a request waits for its reply (and a connection attempt for its handshake)."""
DEFAULT_FEED_SIZE = 100
"""Messages a feed buffers before its overflow policy applies."""
CLOSE_TIMEOUT = 2.0
"""Seconds ``aclose`` waits for the server to answer the close frame."""

Connector = Callable[[], Awaitable[trio.abc.Stream]]
"""Opens the byte stream a client speaks WebSocket over (instead of TCP to the URL's host)."""

_TRANSPORT_ERRORS = (
    OSError,
    HandshakeError,
    ConnectionClosed,
    trio.TooSlowError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
)


class ClientClosed(Exception):
    """The client is closed: by ``aclose``, or for good after a drop (see the subclasses)."""


class ConnectionLost(ClientClosed):
    """The connection dropped while a request waited for its reply, or reconnecting gave up."""


class HandshakeRejected(ClientClosed):
    """The server refused the WebSocket handshake with an HTTP status (retried only if 503)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code

    @property
    def passes(self) -> bool:
        """Whether the refusal is one a reconnecting client waits out: 503, the server is
        shutting down or at its connection limit (another worker or a restart will answer)."""
        return self.status_code == 503


@attrs.define(eq=False)
class _Pending:
    """A request waiting for its reply."""

    channel: str
    subscription: _Subscription | None = None
    """A subscribe's subscription, told of its reply before any later frame is routed."""
    done: trio.Event = attrs.field(factory=trio.Event)
    reply: ServerFrame | None = None
    error: BaseException | None = None
    abandoned: bool = False

    def resolve(self, reply: ServerFrame) -> None:
        if self.subscription is not None:
            self.subscription.subscribed(reply)
        self.reply = reply
        self.done.set()

    def fail(self, error: BaseException) -> None:
        if not self.done.is_set():
            self.error = error
            self.done.set()


@attrs.define(eq=False)
class _Subscription:
    """One subscription on the server, shared by every feed of the same channel and params."""

    channel: str
    params: dict[str, Any]
    normalised: dict[str, Any]
    feeds: list[Feed[Any]] = attrs.field(factory=list)
    ready: trio.Event = attrs.field(factory=trio.Event)
    error: BaseException | None = None
    position: tuple[int, str] | None = None
    """The ``(offset, epoch)`` of the last publication received (history channels only)."""

    def deliver(self, frame: ServerFrame) -> None:
        """Hand a data frame to every feed, tracking its history position.

        A frame at or before the position is one already delivered (skipped); one that skips
        offsets, or comes under another epoch, means publications are missing: the feeds get a
        ``NotRecovered`` ahead of it.
        """
        offset, epoch = frame.frame.get("offset"), frame.frame.get("epoch")
        if isinstance(offset, int) and isinstance(epoch, str):
            if self.position is not None:
                last, last_epoch = self.position
                if epoch == last_epoch and offset <= last:
                    return
                if epoch != last_epoch or offset > last + 1:
                    self._not_recovered()
            self.position = (offset, epoch)
        for feed in self.feeds:
            feed.put(frame.data)

    def subscribed(self, reply: ServerFrame) -> None:
        """Take the position from a ``subscribed`` reply (before the frames that follow it).

        Recovered, the replayed frames follow from the position already held; not recovered,
        the feeds get a ``NotRecovered`` and continue from the stream's position now.
        """
        offset, epoch = reply.frame.get("offset"), reply.frame.get("epoch")
        if reply.type != "subscribed" or not isinstance(offset, int) or not isinstance(epoch, str):
            return
        recovered = reply.frame.get("recovered")
        if recovered is False:
            self._not_recovered()
        if recovered is not True or self.position is None:
            self.position = (offset, epoch)

    def resume_extra(self) -> dict[str, Any] | None:
        """Top-level keys a resubscribe adds: ``since``, the position, on a history channel."""
        if self.position is None:
            return None
        offset, epoch = self.position
        return {"since": {"offset": offset, "epoch": epoch}}

    def _not_recovered(self) -> None:
        for feed in self.feeds:
            feed.mark_not_recovered()

    def end(self, error: BaseException | None) -> None:
        for feed in self.feeds:
            feed.end(error)


class Client:
    """A connection to a trio_socketapi server; make one with ``connect``.

    ``timeout`` (seconds, settable at any time) bounds each request, from sending it (waiting
    for a reconnect, if one is under way) to its reply.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        reconnect: Reconnect | None = Reconnect(),  # noqa: B008 (frozen, shared safely)
        compat: bool = False,
        connector: Connector | None = None,
        headers: Mapping[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        feed_size: int = DEFAULT_FEED_SIZE,
        overflow: Overflow = "raise",
        on_disconnect: Callable[[str], None] | None = None,
        on_reconnect: Callable[[int], None] | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"not a ws:// or wss:// URL: {url!r}")
        Feed(url, {}, _as_is, size=feed_size, overflow=overflow)  # checks both, early
        self.url = url
        """Where the client connects (with a ``connector``: the path, query and Host header)."""
        self.timeout = timeout
        """Seconds a request may take, reply included; ``trio.TooSlowError`` past it."""
        self.compat = compat
        """Whether the client speaks to a socketapi 0.2.0 server (no ids, replies in order)."""
        self.reconnects = 0
        """How many times the client reconnected after a drop."""
        self._reconnect = reconnect
        self._connector = connector
        self._headers = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        self._ssl_context = ssl_context
        self._feed_size = feed_size
        self._overflow: Overflow = overflow
        self._on_disconnect = on_disconnect
        self._on_reconnect = on_reconnect
        self._random = random.Random()
        self._ws: WebSocketConnection | None = None
        self._changed = trio.Event()
        self._closed: ClientClosed | None = None
        self._run_scope = trio.CancelScope()
        self._nursery: trio.Nursery | None = None
        self._ids = itertools.count(1)
        self._pending: dict[MessageId, _Pending] = {}
        self._in_order: deque[_Pending] = deque()
        self._order_lock = trio.Lock()
        self._subscriptions: dict[tuple[str, str], _Subscription] = {}

    @property
    def connected(self) -> bool:
        """Whether a connection is open now (``False`` while reconnecting and once closed)."""
        return self._ws is not None

    @property
    def closed(self) -> bool:
        """Whether the client is closed for good."""
        return self._closed is not None

    # -- requests ---------------------------------------------------------------------------

    @overload
    async def action(
        self, handler: ActionHandler[P, R], /, *args: P.args, **kwargs: P.kwargs
    ) -> R: ...

    @overload
    async def action(self, name: str, /, **params: Any) -> Any: ...

    async def action(
        self, target: ActionHandler[Any, Any] | str, /, *args: Any, **params: Any
    ) -> Any:
        """Call an action and return its result.

        By name, the parameters are keywords and the result is the JSON value the server sent
        (``None`` when the reply has no ``data``). With the server's own handler (``add``, as
        imported from the app), arguments are checked against its signature and the result is
        validated into its return type (a ``User`` model comes back as a ``User``).

        Raises ``ActionError`` for an error frame, ``trio.TooSlowError`` after ``timeout``,
        ``ConnectionLost`` if the connection drops before the reply, ``ClientClosed`` on a closed
        client.
        """
        name, data, decode = self._target(target, args, params)
        reply = await self._request("action", name, data)
        if reply.type == "error":
            raise reply.error(name)
        if reply.type != "action":
            raise ActionError(f"unexpected {reply.type!r} frame in reply to action", channel=name)
        return decode(reply.data)

    @overload
    def subscribe(
        self, handler: ChannelHandler[P, R], /, *args: P.args, **kwargs: P.kwargs
    ) -> AbstractAsyncContextManager[Feed[R]]: ...

    @overload
    def subscribe(self, name: str, /, **params: Any) -> AbstractAsyncContextManager[Feed[Any]]: ...

    def subscribe(
        self, target: ChannelHandler[Any, Any] | str, /, *args: Any, **params: Any
    ) -> AbstractAsyncContextManager[Feed[Any]]:
        """Subscribe for the ``async with`` block: ``async with client.subscribe(...) as feed``.

        The feed yields this subscription's data only (a client in rooms "a" and "b" of one
        channel gets each room's messages in that room's feed), including the channel's
        default response. Entering raises as ``action`` does (``ActionError`` for a refused
        subscribe); leaving unsubscribes. Feeds with equal channel and parameters share one
        subscription on the server. With the server's handler, data is validated into its type.
        """
        name, data, decode = self._target(target, args, params)
        return self._subscription(name, data, decode)

    def _target(
        self,
        target: ActionHandler[Any, Any] | ChannelHandler[Any, Any] | str,
        args: tuple[Any, ...],
        params: dict[str, Any],
    ) -> tuple[str, dict[str, Any], Callable[[Any], Any]]:
        if isinstance(target, str):
            if args:
                raise TypeError(f"{target!r} is called by name: pass its parameters by keyword")
            return target, params, _as_is
        arguments = arguments_of(target.func, args, params)
        if target.path is None:
            return target.name, arguments, decoder_for(target.func)
        # A dynamic path (``typing/{room_id}``): its values go into the name, not into data.
        path_values = {
            name: arguments.pop(name) for name in target.path.params if name in arguments
        }
        return target.path.format(path_values), arguments, decoder_for(target.func)

    async def _request(
        self,
        message_type: str,
        channel: str,
        params: Mapping[str, Any] | None,
        *,
        extra: Mapping[str, Any] | None = None,
        subscription: _Subscription | None = None,
    ) -> ServerFrame:
        """Send one request and wait for its reply, within ``timeout``."""
        with trio.fail_after(self.timeout):
            if not self.compat:
                return await self._exchange(message_type, channel, params, extra, subscription)
            async with self._order_lock:
                return await self._exchange(message_type, channel, params, extra, subscription)

    async def _exchange(
        self,
        message_type: str,
        channel: str,
        params: Mapping[str, Any] | None,
        extra: Mapping[str, Any] | None,
        subscription: _Subscription | None = None,
    ) -> ServerFrame:
        ws = await self._connection()
        pending = _Pending(channel, subscription)
        message_id: MessageId | None = None
        if self.compat:
            self._in_order.append(pending)
        else:
            message_id = next(self._ids)
            self._pending[message_id] = pending
        text = encode_request(message_type, channel, params, id=message_id, extra=extra)
        sent = False
        try:
            try:
                await ws.send_message(text)
            except ConnectionClosed as exc:
                raise self._lost(channel, exc.reason) from None
            sent = True
            await pending.done.wait()
        finally:
            if not pending.done.is_set():
                pending.abandoned = True
                if message_id is not None:
                    self._pending.pop(message_id, None)
                elif not sent:
                    # Replies are matched by order, and whether this one went out is unknown:
                    # only a new connection makes the order certain again.
                    self._drop(ws)
        if pending.error is not None:
            raise pending.error
        assert pending.reply is not None
        return pending.reply

    def _lost(self, channel: str, reason: object) -> ConnectionLost:
        return ConnectionLost(
            f"connection to {self.url} lost before the reply to {channel!r} ({_describe(reason)})"
        )

    async def _connection(self) -> WebSocketConnection:
        """The open connection, waiting for a reconnect under way; raises once closed."""
        while True:
            if self._closed is not None:
                raise self._closed.with_traceback(None)
            if self._ws is not None:
                return self._ws
            await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    # -- subscriptions ----------------------------------------------------------------------

    @asynccontextmanager
    async def _subscription(
        self, channel: str, params: dict[str, Any], decode: Callable[[Any], Any]
    ) -> AsyncIterator[Feed[Any]]:
        feed: Feed[Any] = Feed(
            channel, params, decode, size=self._feed_size, overflow=self._overflow
        )
        subscription = await self._join(channel, params, feed)
        try:
            yield feed
        finally:
            feed.end()
            await self._leave(subscription, feed)

    async def _join(self, channel: str, params: dict[str, Any], feed: Feed[Any]) -> _Subscription:
        key = (channel, to_json(params).decode())
        subscription = self._subscriptions.get(key)
        if subscription is not None:
            subscription.feeds.append(feed)
            with trio.fail_after(self.timeout):
                await subscription.ready.wait()
            if subscription.error is not None:
                subscription.feeds.remove(feed)
                raise subscription.error
            return subscription
        if self.compat and any(name == channel for name, _ in self._subscriptions):
            raise ValueError(
                f"compat mode: already subscribed to {channel!r}; socketapi 0.2.0 keeps one "
                "subscription per channel and connection"
            )
        subscription = _Subscription(channel, params, normalise(params), [feed])
        self._subscriptions[key] = subscription
        try:
            reply = await self._request("subscribe", channel, params, subscription=subscription)
            if reply.type == "error":
                raise reply.error(channel)
        except BaseException as exc:
            self._subscriptions.pop(key, None)
            subscription.error = exc if isinstance(exc, Exception) else ClientClosed("cancelled")
            subscription.ready.set()
            raise
        subscription.ready.set()
        return subscription

    async def _leave(self, subscription: _Subscription, feed: Feed[Any]) -> None:
        subscription.feeds.remove(feed)
        if subscription.feeds:
            return
        key = (subscription.channel, to_json(subscription.params).decode())
        if self._subscriptions.get(key) is not subscription:
            return  # lost already (refused on resubscribe)
        del self._subscriptions[key]
        if self._ws is None:
            return  # closed, or reconnecting: the new connection will not subscribe it
        # socketapi's unsubscribe takes no data and leaves the whole channel.
        data = None if self.compat else subscription.params
        with trio.CancelScope(shield=True):  # leaving a cancelled block still unsubscribes
            try:
                await self._request("unsubscribe", subscription.channel, data)
            except (ClientClosed, trio.TooSlowError) as exc:
                logger.debug("unsubscribe from %r not confirmed: %s", subscription.channel, exc)

    async def _resubscribe(self) -> int:
        """Subscribe again to every open subscription on a new connection; how many succeeded."""
        done = 0
        for key, subscription in list(self._subscriptions.items()):
            failure: Exception | None = None
            try:
                reply = await self._request(
                    "subscribe",
                    subscription.channel,
                    subscription.params,
                    extra=subscription.resume_extra(),
                    subscription=subscription,
                )
            except ConnectionLost:
                return done  # dropped again: the next connection subscribes them all
            except trio.TooSlowError as exc:
                failure = exc
            else:
                if reply.type == "error":
                    failure = reply.error(subscription.channel)
            if failure is None:
                done += 1
                continue
            logger.warning("resubscribing to %r failed: %s", subscription.channel, failure)
            if self._subscriptions.get(key) is subscription:
                del self._subscriptions[key]
                subscription.end(failure)
        return done

    # -- the connection ---------------------------------------------------------------------

    async def _run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, then keep the client connected until it is closed."""
        with self._run_scope:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await self._stay_connected(task_status)
                nursery.cancel_scope.cancel()

    async def _stay_connected(self, task_status: trio.TaskStatus[None]) -> None:
        ended, _ = await self._session(0, task_status)
        failures = 0
        while self._closed is None:
            policy = self._reconnect
            if policy is None or (isinstance(ended, HandshakeRejected) and not ended.passes):
                self._close(ended)
                return
            if failures == 0:
                logger.warning("connection to %s lost (%s); reconnecting", self.url, ended)
                if self._on_disconnect is not None:
                    self._on_disconnect(str(ended))
            failures += 1
            if failures > policy.max_attempts:
                logger.error(
                    "gave up reconnecting to %s after %d attempts", self.url, policy.max_attempts
                )
                self._close(
                    ConnectionLost(
                        f"connection to {self.url} lost; gave up after "
                        f"{policy.max_attempts} attempts ({ended})"
                    )
                )
                return
            await trio.sleep(policy.delay(failures, self._random.random()))
            ended, opened = await self._session(failures)
            if opened:
                failures = 0

    async def _session(
        self, attempts: int, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> tuple[ClientClosed, bool]:
        """Open one connection and read it until it ends; return why it ended, and whether it
        opened. The first connection's failure (``attempts == 0``) is raised instead."""
        opened = False
        try:
            async with trio.open_nursery() as nursery:
                with trio.fail_after(self.timeout):
                    ws = await self._open(nursery)
                opened = True
                self._ws = ws
                self._notify()
                if attempts == 0:
                    task_status.started()
                else:
                    nursery.start_soon(self._reconnected, attempts)
                reason = await self._read(ws)
                nursery.cancel_scope.cancel()
            ended: ClientClosed = ConnectionLost(_describe(reason))
        except Exception as exc:
            ended, leaf = _transport_failure(exc)
            if not opened and attempts == 0:
                raise (ended if isinstance(ended, HandshakeRejected) else leaf) from None
        finally:
            self._ws = None
            self._fail_pending(None)
            self._notify()
        return ended, opened

    async def _open(self, nursery: trio.Nursery) -> WebSocketConnection:
        if self._connector is None:
            return await connect_websocket_url(
                nursery, self.url, self._ssl_context, extra_headers=self._headers
            )
        parts = urllib.parse.urlsplit(self.url)
        resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        stream = await self._connector()
        return await wrap_client_stream(
            nursery,
            cast(Any, stream),  # typed for sockets, works on any trio Stream
            parts.netloc,
            resource,
            extra_headers=self._headers,
        )

    async def _read(self, ws: WebSocketConnection) -> CloseReason | None:
        while True:
            try:
                message = await ws.get_message()
            except ConnectionClosed as exc:
                return exc.reason
            self._on_frame(message)

    async def _reconnected(self, attempts: int) -> None:
        resubscribed = await self._resubscribe()
        self.reconnects += 1
        logger.info(
            "reconnected to %s after %d attempt(s); resubscribed %d subscription(s)",
            self.url,
            attempts,
            resubscribed,
        )
        if self._on_reconnect is not None:
            self._on_reconnect(attempts)

    def _on_frame(self, message: str | bytes) -> None:
        try:
            frame = parse_frame(message)
        except MalformedFrame as exc:
            logger.warning("ignoring a frame from %s: %s", self.url, exc)
            return
        if frame.type == "data":
            self._route(frame)
            return
        if not frame.answers_request:
            logger.warning("ignoring a %r frame from %s", frame.type, self.url)
            return
        pending: _Pending | None
        if self.compat:
            pending = self._in_order.popleft() if self._in_order else None
        else:
            pending = None if frame.id is None else self._pending.pop(frame.id, None)
        if pending is None:
            logger.warning("ignoring a reply that answers no request: %r", dict(frame.frame))
        elif not pending.abandoned:
            pending.resolve(frame)

    def _route(self, frame: ServerFrame) -> None:
        for subscription in list(self._subscriptions.values()):
            if subscription.channel == frame.channel and (
                self.compat or feeds_data(subscription.normalised, frame.params)
            ):
                subscription.deliver(frame)

    def _fail_pending(self, error: ClientClosed | None) -> None:
        """Fail every request waiting for a reply, with ``error`` or ``ConnectionLost``."""
        for pending in [*self._pending.values(), *self._in_order]:
            pending.fail(error or self._lost(pending.channel, "connection closed"))
        self._pending.clear()
        self._in_order.clear()

    def _drop(self, ws: WebSocketConnection) -> None:
        """Close ``ws`` in the background (the reader then reconnects, as after any drop)."""
        if self._nursery is not None and self._ws is ws:
            self._nursery.start_soon(ws.aclose)

    # -- closing ----------------------------------------------------------------------------

    def _close(self, reason: ClientClosed) -> None:
        """Close the client for good: requests raise ``reason``, feeds end (with it, unless
        the user closed)."""
        if self._closed is not None:
            return
        self._closed = reason
        feed_error = None if type(reason) is ClientClosed else reason
        for subscription in self._subscriptions.values():
            subscription.end(feed_error)
        self._subscriptions.clear()
        self._fail_pending(reason)
        self._notify()

    async def aclose(self) -> None:
        """Close the connection (code 1000) and the client; feeds end, requests raise
        ``ClientClosed``. Never reconnects after this; calling it again does nothing."""
        if self._closed is not None:
            self._run_scope.cancel()
            return
        self._close(ClientClosed(f"client of {self.url} closed"))
        ws = self._ws
        if ws is not None:
            with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT):
                await ws.aclose()
        self._run_scope.cancel()


@asynccontextmanager
async def connect(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 (bounds each request, not this call)
    reconnect: Reconnect | None = Reconnect(),  # noqa: B008 (frozen, shared safely)
    compat: bool = False,
    connector: Connector | None = None,
    headers: Mapping[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    feed_size: int = DEFAULT_FEED_SIZE,
    overflow: Overflow = "raise",
    on_disconnect: Callable[[str], None] | None = None,
    on_reconnect: Callable[[int], None] | None = None,
) -> AsyncIterator[Client]:
    """Connect to ``url`` (``ws://`` or ``wss://``) for the ``async with`` block.

    ``timeout``: seconds per request and per connection attempt. ``reconnect``: the backoff
    policy after a drop (``None``: close instead). ``compat``: the server is socketapi 0.2.0.
    ``connector``: open this stream instead of TCP (in-memory tests). ``headers``: extra
    handshake headers. ``feed_size`` and ``overflow``: each feed's buffer and its policy (see
    ``Feed``). ``on_disconnect(reason)`` is called when a drop starts reconnecting,
    ``on_reconnect(attempts)`` once reconnected and resubscribed.

    Raises the first connection's failure: ``HandshakeRejected`` for a refused handshake,
    ``OSError`` if nothing listens, ``trio.TooSlowError`` if the handshake takes over
    ``timeout``. Leaving the block closes the client.
    """
    client = Client(
        url,
        timeout=timeout,
        reconnect=reconnect,
        compat=compat,
        connector=connector,
        headers=headers,
        ssl_context=ssl_context,
        feed_size=feed_size,
        overflow=overflow,
        on_disconnect=on_disconnect,
        on_reconnect=on_reconnect,
    )
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(client._run)
            try:
                yield client
            finally:
                await client.aclose()
    except BaseExceptionGroup as group:
        # The client's own tasks raise nothing past _run: a group holds the caller's error (or
        # the first connection's failure), which is raised as it is.
        single = _single(group)
        if single is None:
            raise
        raise single from None


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    leaves = _leaves(group)
    return leaves[0] if len(leaves) == 1 else None


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _transport_failure(exc: Exception) -> tuple[ClientClosed, BaseException]:
    """What a connection's failure means to the client, and the error at its root.

    Re-raises anything that is not a transport failure (a bug, not a reason to reconnect).
    """
    leaves = _leaves(exc)
    for leaf in leaves:
        if isinstance(leaf, ConnectionRejected):
            status = leaf.status_code
            return HandshakeRejected(
                f"server refused the handshake with HTTP {status}", status
            ), leaf
    if all(isinstance(leaf, _TRANSPORT_ERRORS) for leaf in leaves):
        return ConnectionLost(_describe(leaves[0])), leaves[0]
    raise exc


def _describe(reason: object) -> str:
    if isinstance(reason, CloseReason):
        return f"close code {reason.code}" + (f": {reason.reason}" if reason.reason else "")
    if isinstance(reason, BaseException):
        return f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
    return str(reason)


def _as_is(value: Any) -> Any:
    return value
