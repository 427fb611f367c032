"""``RedisBroker``: share broadcasts between processes and hosts through Redis pub/sub.

Every broadcast of an app is one ``PUBLISH`` of ``Broadcast.encode()`` on one Redis channel
(``trio_socketapi`` unless told otherwise); every serving process holds one ``SUBSCRIBE`` on it and
delivers what arrives to its own subscribers. So a frame crosses Redis once per broadcast, never
once per subscriber, and scoped delivery stays exact: each server matches the key itself.

The message on the Redis channel is one UTF-8 JSON object, the same that ``Broadcast.encode``
writes, so any service can publish (``redis-cli PUBLISH trio_socketapi '{...}'``)::

    {"channel": "chat", "key": {"room": "a"}, "data": {"text": "hi"}}

``channel`` names the app channel; ``key`` holds the ``RequiredOnSubscribe`` values that scope
the broadcast (only those named are matched: ``{}`` or absent reaches every subscriber of the
channel); ``data`` is what the subscribers' data frames carry (absent: a frame with no
``data``, as when a channel function returns ``None``). A message that is not such an object
is logged and skipped; a key a server's channel does not accept is logged and dropped by that
server.

Delivery is at most once. ``publish`` is never retried (a retry after a timeout could deliver a
broadcast twice); while Redis is unreachable every broadcast fails with ``BrokerUnavailable`` and
is lost, and a server that lost its subscription misses whatever was published until it has
subscribed again. Nothing is queued or replayed: Redis pub/sub keeps no history.

The client is coredis (anyio-based, so it runs on trio's own loop). Its ``PubSub`` can retry by
itself, but silently and with its own schedule; here the retry loop is ours (``run``), so a lost
connection is logged, the backoff is the documented one, and the first connection failing is an
error rather than an endless retry.
"""

from __future__ import annotations

import functools
import logging
import math
import sys
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, NoReturn, TypeVar

import trio

from ._broker import Broadcast, Receiver, StreamKeys
from ._forward import PublishError
from ._history import History, Publication, Replay, Since
from ._presence import LocalPresence

try:
    import anyio
    import coredis
    import coredis.exceptions
    from coredis.patterns.pubsub import PubSub
    from coredis.retry import NoRetryPolicy

    from ._redis_history import RedisStreams
    from ._redis_presence import RedisPresence
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError("RedisBroker needs coredis: pip install 'trio_socketapi[redis]'") from exc

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["BrokerUnavailable", "RedisBroker"]

logger = logging.getLogger("trio_socketapi")
T = TypeVar("T")

# What "Redis cannot be reached" usually looks like: coredis's own errors (refused, reset,
# handshake or auth failure, an error reply), socket errors, a request or subscription that timed
# out, and anyio's errors for a stream that closed under a request. Any other ``Exception`` is
# handled the same way (Redis is given up on for now, never the server), but logged with its
# traceback.
_UNREACHABLE: tuple[type[Exception], ...] = (
    coredis.exceptions.RedisError,
    OSError,
    TimeoutError,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
)


class BrokerUnavailable(PublishError):
    """The broker cannot be reached: at start (``run``), or for one broadcast (``publish``).

    A ``PublishError``, so code that catches failed broadcasts catches it whether the app
    forwards to its server or publishes to Redis.
    """


class RedisBroker:
    """A shared broker on a Redis server, 6.0 or later (the client speaks RESP3).

    Tested against Redis 7.0; Valkey speaks the same protocol.

    ``url`` is a ``redis://[[user]:password@]host[:port][/db]`` URL (``rediss://`` for TLS,
    ``unix://path`` for a socket). ``channel`` is the Redis pub/sub channel every process of the
    deployment publishes and subscribes on; give unrelated apps on one Redis different channels
    (the database number does not separate pub/sub channels).

    ``timeout`` bounds connecting, subscribing and each ``publish`` (seconds).
    After a lost connection ``run`` waits ``reconnect_delay`` before the first new attempt,
    doubling after each failure up to ``max_reconnect_delay``. A subscription that has heard
    nothing for ``ping_interval`` seconds sends a PING, so a silently dead connection is noticed
    within ``ping_interval + timeout``.

    Raises ``ValueError`` for a URL of another scheme or with no host (or socket path).
    Nothing connects until ``run`` or ``publish``.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        channel: str = "trio_socketapi",
        timeout: float = 5.0,
        reconnect_delay: float = 0.1,
        max_reconnect_delay: float = 5.0,
        ping_interval: float = 15.0,
        presence_ttl: float = 15.0,
    ) -> None:
        if not channel:
            raise ValueError("channel must be a non-empty string")
        if presence_ttl <= 0:
            raise ValueError("presence_ttl must be positive")
        if timeout <= 0 or reconnect_delay <= 0 or max_reconnect_delay < reconnect_delay:
            raise ValueError(
                "timeout and reconnect_delay must be positive, max_reconnect_delay at least "
                "reconnect_delay"
            )
        self.url = url
        self.channel = channel
        self.timeout = timeout
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.ping_interval = ping_interval
        self._where = _redacted(url)
        _check_url(url, self._where)  # a typo fails here, not at the first broadcast
        # Clients of the subscriptions ``run`` holds open; ``publish`` borrows the newest one.
        self._live: list[coredis.Redis[bytes]] = []
        self._streams = RedisStreams(channel)
        self.presence_ttl = presence_ttl
        self._presence = RedisPresence(channel, presence_ttl)

    def __repr__(self) -> str:
        return f"RedisBroker({self._where!r}, channel={self.channel!r})"

    @property
    def is_shared(self) -> bool:
        """Always: every process subscribed to the channel receives what is published."""
        return True

    async def publish(self, broadcast: Broadcast) -> None:
        """``PUBLISH`` the broadcast once; the servers subscribed deliver it.

        In a process where ``run`` is subscribed, its connection is reused; otherwise (a script
        or worker with no server) each call opens a connection for its one command.
        Returns once Redis has accepted it, before any server has delivered it.
        Raises ``BrokerUnavailable`` if Redis cannot be reached or does not answer within
        ``timeout``; that broadcast is then lost (it is not retried: a retry could deliver it
        twice).
        """
        payload = broadcast.encode()
        await self._command(
            lambda client: client.publish(self.channel, payload),
            f"broadcast to {broadcast.channel!r} lost",
        )

    async def publish_recorded(
        self, broadcast: Broadcast, streams: StreamKeys | None, history: History
    ) -> None:
        """Record the broadcast in its streams' Redis history and ``PUBLISH`` it, in one Lua
        script (see ``_redis_history``): no process delivers what history lacks.

        Raises ``BrokerUnavailable`` as ``publish`` does; the broadcast is then neither
        recorded nor delivered (or, if Redis ran the script but its answer was lost, both).
        """
        await self._command(
            lambda client: self._streams.record(client, broadcast, streams, history),
            f"broadcast to {broadcast.channel!r} lost",
        )

    async def read_stream(
        self,
        channel: str,
        key: bytes,
        params: Mapping[str, Any],
        since: Since | None,
        history: History,
    ) -> Replay:
        """Read a stream's position and what a client at ``since`` missed, from Redis.

        Raises ``BrokerUnavailable`` if Redis cannot be reached within ``timeout``.
        """
        return await self._command(
            lambda client: self._streams.read(client, channel, key, since, history),
            f"history of {channel!r} unavailable",
        )

    async def recent(
        self, channel: str, key: bytes, limit: int, history: History
    ) -> list[Publication]:
        """The newest ``limit`` publications of a stream kept in Redis, oldest first."""
        return await self._command(
            lambda client: self._streams.recent(client, channel, key, limit, history),
            f"history of {channel!r} unavailable",
        )

    async def keep_presence(self, local: LocalPresence) -> None:
        """Refresh ``local``'s entries in Redis every ``presence_ttl / 3`` until cancelled.

        A refresh that fails (Redis down) is logged and tried again at the next one; entries
        this process no longer refreshes expire ``presence_ttl`` after the last refresh.
        """
        while True:
            await trio.sleep(self.presence_ttl / 3)
            for channel, key, entries in local.streams():
                refresh = functools.partial(
                    self._presence.refresh, channel=channel, key=key, entries=entries
                )
                try:
                    await self._command(
                        refresh,
                        f"presence of {channel!r} not refreshed",
                    )
                except BrokerUnavailable as exc:
                    logger.info("%s", exc)
                    break

    async def presence_changed(self, event: Broadcast, key: bytes) -> None:
        """Record the join or leave in Redis and ``PUBLISH`` it, in one script."""
        await self._command(
            lambda client: self._presence.change(client, event, key),
            f"presence change in {event.channel!r} lost",
        )

    async def presence(self, channel: str, key: bytes) -> dict[str, Any]:
        """Every process's entries of the stream that have not expired."""
        return await self._command(
            lambda client: self._presence.members(client, channel, key),
            f"presence of {channel!r} unavailable",
        )

    async def _command(self, call: Callable[[coredis.Redis[bytes]], Awaitable[T]], lost: str) -> T:
        """Run ``call`` on the subscription's client (or a connection of its own, in a process
        with no server), bounded by ``timeout``; failures become ``BrokerUnavailable``."""
        try:
            with trio.fail_after(self.timeout):
                if self._live:
                    return await call(self._live[-1])
                async with self._connected() as client:
                    return await call(client)
        except trio.TooSlowError:
            raise BrokerUnavailable(
                f"no answer from Redis at {self._where} within {self.timeout:g} s; {lost}"
            ) from None
        except BaseException as exc:
            failure = _failure_of(exc)
            raise BrokerUnavailable(
                f"cannot reach Redis at {self._where} ({_reason(failure)}); {lost}"
            ) from failure

    async def run(
        self, receiver: Receiver, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Subscribe, report started, and hand every broadcast to ``receiver`` until cancelled.

        Raises ``BrokerUnavailable`` (before reporting started) if the first connection and
        subscription fail or take longer than ``timeout``. Once started it never raises for
        Redis: a lost connection is logged, retried with backoff and resubscribed. A malformed
        message, or ``receiver`` raising, is logged and skipped. Cancellation unsubscribes
        (shielded, for at most 0.1 s) and closes the connection.
        """
        started = False
        delay = self.reconnect_delay
        lost_at: float | None = None  # when the subscription went down, while it is down

        def subscribed() -> None:
            nonlocal started, delay, lost_at
            if lost_at is not None:
                logger.warning(
                    "resubscribed to Redis at %s after %.1f s; broadcasts published in that "
                    "time were lost",
                    self._where,
                    trio.current_time() - lost_at,
                )
            elif not started:
                started = True
                task_status.started()
            delay, lost_at = self.reconnect_delay, None

        while True:
            failure = await self._hold_subscription(receiver, subscribed)
            if not started:
                raise BrokerUnavailable(
                    f"cannot reach Redis at {self._where}: {_reason(failure)}"
                ) from failure
            # One warning when the subscription is lost; the attempts after it are routine.
            level = logging.WARNING if lost_at is None else logging.INFO
            if lost_at is None:
                lost_at = trio.current_time()
            logger.log(
                level,
                "Redis at %s unreachable (%s); resubscribing in %g s",
                self._where,
                _reason(failure),
                delay,
                exc_info=None if _is_expected(failure) else failure,
            )
            await trio.sleep(delay)
            delay = min(delay * 2, self.max_reconnect_delay)

    async def _hold_subscription(
        self, receiver: Receiver, subscribed: Callable[[], None]
    ) -> BaseException:
        """Connect, subscribe, call ``subscribed``, deliver until the connection fails.

        Returns that failure. Connecting and subscribing are bounded by ``timeout``.
        """
        with trio.CancelScope(deadline=trio.current_time() + self.timeout) as connecting:
            try:
                async with self._subscribed() as (client, messages):
                    connecting.deadline = math.inf
                    subscribed()
                    self._live.append(client)
                    try:
                        await _deliver_each(messages, receiver)
                    finally:
                        self._live.remove(client)
            except BaseException as exc:
                return _failure_of(exc)
        return TimeoutError(f"no answer within {self.timeout:g} s")

    def _new_client(self) -> coredis.Redis[bytes]:
        return coredis.Redis.from_url(
            self.url,
            decode_responses=False,
            retry_policy=NoRetryPolicy(),
            connect_timeout=self.timeout,
            stream_timeout=self.timeout,
        )

    @asynccontextmanager
    async def _connected(self) -> AsyncIterator[coredis.Redis[bytes]]:
        async with self._new_client() as client:
            yield client

    @asynccontextmanager
    async def _subscribed(
        self,
    ) -> AsyncIterator[tuple[coredis.Redis[bytes], PubSub[bytes]]]:
        async with (
            self._connected() as client,
            client.pubsub(
                channels=[self.channel],
                ignore_subscribe_messages=True,
                retry_policy=NoRetryPolicy(),
                subscription_timeout=self.timeout,
                max_idle_seconds=self.ping_interval,
            ) as messages,
        ):
            yield client, messages


async def _deliver_each(messages: PubSub[bytes], receiver: Receiver) -> NoReturn:
    """Decode and deliver messages until cancelled (by the subscription's connection failing)."""
    while True:
        message = await messages.get_message()
        if message is None or message["type"] != "message":
            continue  # subscription confirmations
        raw = message["data"]
        if not isinstance(raw, bytes):  # pragma: no cover - a "message" always carries bytes
            continue
        try:
            broadcast = Broadcast.decode(raw)
        except ValueError as exc:
            logger.warning("malformed broker message skipped (%s): %r", exc, raw[:200])
            continue
        try:
            receiver(broadcast)
        except Exception:
            logger.exception("delivering a broadcast to %r failed", broadcast.channel)


def _failure_of(exc: BaseException) -> BaseException:
    """The failure in ``exc`` to handle; re-raises whatever is not an ``Exception``.

    coredis works in task groups, so its errors arrive wrapped in exception groups, and a
    lost connection can surface as several errors at once (the read failing, then the
    unsubscribe on the closed stream). A cancellation that races such a failure keeps
    propagating, without the failure attached.
    """
    if isinstance(exc, BaseExceptionGroup):
        failure, rest = exc.split(Exception)
        if rest is not None:
            raise rest
        assert failure is not None
        return failure
    if not isinstance(exc, Exception):
        raise exc
    return exc


def _is_expected(exc: BaseException) -> bool:
    """Whether ``exc`` holds only the usual signs of an unreachable Redis (no traceback needed)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_expected(inner) for inner in exc.exceptions)
    return isinstance(exc, _UNREACHABLE)


def _reason(exc: BaseException) -> str:
    """The first Redis failure inside ``exc``, as one line."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return str(exc) or type(exc).__name__


def _check_url(url: str, where: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"not a redis://, rediss:// or unix:// URL: {where!r}")
    if not (parts.path if parts.scheme == "unix" else parts.hostname):
        raise ValueError(f"no {'socket path' if parts.scheme == 'unix' else 'host'} in {where!r}")
    _ = parts.port  # raises ValueError for a port that is not a number in range


def _redacted(url: str) -> str:
    """``url`` without its password, for logs and error messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
