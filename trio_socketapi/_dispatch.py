"""What each inbound message type does: run the handler, change subscriptions, reply.

The dispatcher knows the registry and the hub, and talks to a connection only through the small
``Peer`` interface (``send`` a frame, its ``Connection``), so it never touches the socket.

A handler cannot stop the server. Whatever it raises fails that one message with an error frame
and the connection goes on, as one failed request does in any other Python server; that
includes ``BaseException``s such as ``SystemExit`` and ``KeyboardInterrupt`` raised by handler
code (answered "Internal server error." whatever ``expose_errors`` says, and logged with the
traceback). Only cancellation passes through (``trio.Cancelled``, ``GeneratorExit``, or a group
holding one): it is how the session stops its handlers. A real Ctrl-C still stops the server:
``handle`` runs with trio's KeyboardInterrupt protection, so trio delivers a SIGINT that arrives
while a handler runs to the main task (which shuts the server down with 1001) instead of raising
it inside the handler, and a ``KeyboardInterrupt`` that comes out of a handler is the handler's
own. (Under ``app.run`` and the command line SIGINT is a signal receiver's anyway.) The cost: a
handler that loops without a checkpoint cannot be interrupted by Ctrl-C, as under ``app.run``;
a task a handler starts in a nursery of its own is not protected.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import pydantic
import pydantic_core
import trio

from ._broker import Broadcast, Broker
from ._connection import Connection
from ._counters import Counters
from ._frames import text_frame
from ._handlers import ChannelHandler
from ._hub import Hub, Subscriber, key_of
from ._metrics import Metrics
from ._presence import LocalPresence
from ._protocol import (
    ACTION_NOT_FOUND,
    CHANNEL_NOT_FOUND,
    INTERNAL_SERVER_ERROR,
    PUBLISH_NOT_ALLOWED,
    SUBSCRIPTION_LIMIT,
    Inbound,
    encode_action_result,
    encode_data,
    encode_error,
    encode_position,
    encode_reply,
    to_json,
)
from ._registry import Registry
from ._settings import Settings
from ._signature import InvalidParameters

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

logger = logging.getLogger("trio_socketapi")


class Peer(Subscriber, Protocol):
    """The connection side the dispatcher replies to."""

    connection: Connection

    async def send(self, frame: bytes) -> None:
        """Queue a reply frame, waiting for room in the outbox (backpressure)."""


class PublishPolicy(Protocol):
    """Decides whether a ``publish`` message may be accepted from a peer."""

    def allows(self, connection: Connection, token: object) -> bool:
        """Whether ``connection`` (presenting ``token``) may publish."""


class Dispatcher:
    """Handles well-formed inbound messages for every connection of one server."""

    def __init__(
        self,
        registry: Registry,
        hub: Hub,
        publish_policy: PublishPolicy,
        settings: Settings,
        counters: Counters,
        broker: Broker,
        metrics: Metrics | None = None,
        presence: LocalPresence | None = None,
    ) -> None:
        self._broker = broker
        self._presence = presence or LocalPresence()
        self._registry = registry
        self._hub = hub
        self._publish_policy = publish_policy
        self._settings = settings
        self._counters = counters
        self._metrics = metrics
        """Where action latencies go (``None``: not recorded, ``/metrics`` is off)."""
        self._by_type: Mapping[str, Callable[[Peer, Inbound], Awaitable[bytes | None]]] = {
            "action": self._action,
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "publish": self._publish,
        }
        """What each of ``MESSAGE_TYPES`` does (``parse_inbound`` lets no other type through)."""

    @trio.lowlevel.enable_ki_protection
    async def handle(self, peer: Peer, inbound: Inbound) -> None:
        """Answer one message. Whatever a handler raises becomes an error frame, except
        cancellation (see the module docstring); nothing here closes the peer."""
        reply: bytes | None
        try:
            reply = await self._by_type[inbound.type](peer, inbound)
        except InvalidParameters as exc:
            logger.info(
                "invalid %s %r from %s: %s",
                inbound.type,
                inbound.channel,
                _peer_text(peer.connection),
                _field_errors(exc.errors),
            )
            reply = encode_error(
                str(exc), id=inbound.id, channel=inbound.channel, errors=exc.errors
            )
        except BaseException as exc:
            if is_cancellation(exc):
                raise
            reply = encode_error(self._describe(exc), id=inbound.id, channel=inbound.channel)
        if reply is not None:
            await peer.send(text_frame(reply))

    async def _action(self, peer: Peer, inbound: Inbound) -> bytes:
        found = self._registry.find_action(inbound.channel)
        if found is None:
            return _error_reply(inbound, ACTION_NOT_FOUND.format(channel=inbound.channel))
        handler, path_values = found
        data = with_path_values(inbound.data, path_values)
        if self._metrics is None:
            result = await handler.signature.call(data, peer.connection)
        else:
            start = time.perf_counter()
            try:
                result = await handler.signature.call(data, peer.connection)
            finally:
                self._metrics.observe_action(handler.name, time.perf_counter() - start)
        return encode_action_result(inbound.channel, result, id=inbound.id)

    async def _subscribe(self, peer: Peer, inbound: Inbound) -> bytes | None:
        found = self._registry.find_channel(inbound.channel)
        if found is None:
            return _error_reply(inbound, CHANNEL_NOT_FOUND.format(channel=inbound.channel))
        handler, path_values = found
        signature = handler.subscribe_signature
        if self._hub.subscription_count(peer) >= self._settings.max_subscriptions:
            text = SUBSCRIPTION_LIMIT.format(limit=self._settings.max_subscriptions)
            return _error_reply(inbound, text)
        kwargs = await signature.resolve(
            with_path_values(inbound.data, path_values), peer.connection
        )
        params = {name: kwargs[name] for name in signature.key_params}
        channel = handler.concrete_name(params)  # "chat/42" for "chat/{room_id}"
        default_frame = None
        # A required non-key parameter the client did not send: subscribe without the call.
        if signature.is_complete(kwargs):
            result = await handler.func(**kwargs)
            if handler.default_response:
                data_json = None if result is None else to_json(result)
                # Extensions are opt-in: ``params`` only for a subscribe that carried an id.
                extended = inbound.id is not None and bool(params)
                params_json = to_json(params) if extended else None
                default_frame = encode_data(to_json(channel), data_json, params_json)
        if handler.history_config is not None and inbound.id is not None:
            await self._subscribe_with_history(
                peer, inbound, handler, channel, params, default_frame
            )
        else:
            # Registering and queueing "subscribed" happen with no checkpoint between them, so
            # every broadcast the client sees after "subscribed" reaches it.
            self._hub.subscribe(peer, channel, params, extended=inbound.id is not None)
            await peer.send(text_frame(encode_reply("subscribed", inbound.channel, id=inbound.id)))
            if default_frame is not None:
                await peer.send(text_frame(default_frame))
        if handler.presence_enabled:
            await self._join(peer.connection, handler.name, params)
        return None

    async def _leave(
        self,
        peer: Peer,
        channel: str,
        params: dict[str, Any] | None,
        path_key: dict[str, Any],
    ) -> None:
        """Take the connection out of the stream ``params`` names (every stream of the channel
        that agrees with ``path_key`` if ``None``) and announce it."""
        client_id = peer.connection.id
        if params is None and not path_key:
            left = self._presence.remove_client(client_id, channel)
        elif params is None:  # "chat/42" without data: the streams of room 42 only
            left = []
            for name, key, entries in self._presence.streams():
                info_json = entries.get(client_id)
                stream = pydantic_core.from_json(key) if key else {}
                if (
                    name == channel
                    and info_json is not None
                    and all(to_json(stream.get(k)) == to_json(v) for k, v in path_key.items())
                    and self._presence.remove(name, key, client_id)
                ):
                    left.append((name, key, info_json))
        else:
            key = key_of(params)
            info_json = self._presence.members(channel, key).get(client_id)
            left = []
            if info_json is not None and self._presence.remove(channel, key, client_id):
                left = [(channel, key, info_json)]
        await self.announce_leaves(client_id, left)

    async def _join(self, connection: Connection, channel: str, params: dict[str, Any]) -> None:
        """Enter the connection in the stream's presence and announce it (once per stream)."""
        key = key_of(params)
        info_json = to_json(connection.info)
        if self._presence.add(channel, key, connection.id, info_json):
            await self._announce(
                Broadcast(channel, params, None, event=("join", connection.id, info_json)), key
            )

    async def announce_leaves(self, client_id: str, left: list[tuple[str, bytes, bytes]]) -> None:
        """Announce that ``client_id`` left these streams (``(channel, key JSON, info JSON)``)."""
        for channel, key, info_json in left:
            params = pydantic_core.from_json(key) if key else {}
            await self._announce(
                Broadcast(channel, params, None, event=("leave", client_id, info_json)), key
            )

    async def _announce(self, event: Broadcast, key: bytes) -> None:
        # The entry is in this server's presence either way; where presence is shared, the
        # broker's refresh puts it there later if this fails now.
        try:
            await self._broker.presence_changed(event, key)
        except Exception as exc:
            logger.warning("presence change in %r not announced: %s", event.channel, exc)

    async def _subscribe_with_history(
        self,
        peer: Peer,
        inbound: Inbound,
        handler: ChannelHandler[Any, Any],
        channel: str,
        params: dict[str, Any],
        default_frame: bytes | None,
    ) -> None:
        """Subscribe telling the client its stream position, replaying what it missed.

        No gap, no duplicate: the subscription joins *held* before the history is read, so every
        publication after the read is kept for it; the replay is sent, then the held frames
        whose offset is past the position read (the earlier ones were in the replay). With the
        memory broker the read does not even checkpoint, so nothing is ever held.
        """
        assert handler.history_config is not None
        key = key_of(params)
        self._hub.subscribe(peer, channel, params, hold=True)
        try:
            replay = await self._broker.read_stream(
                handler.name, key, params, inbound.since, handler.history_config
            )
            extensions: dict[str, Any] = {"offset": replay.offset, "epoch": replay.epoch}
            if inbound.since is not None:
                extensions = {"recovered": replay.recovered, **extensions}
            reply = encode_reply(
                "subscribed", inbound.channel, id=inbound.id, extensions=extensions
            )
            await peer.send(text_frame(reply))
            if replay.entries:
                channel_json = to_json(channel)
                params_json = to_json(params) if params else None
                for entry in replay.entries:
                    position = encode_position(entry.offset, replay.epoch)
                    frame = encode_data(channel_json, entry.data_json, params_json, position)
                    await peer.send(text_frame(frame))
            elif default_frame is not None and not (inbound.since and replay.recovered):
                # Recovered, the client's state is current: no default response then.
                await peer.send(text_frame(default_frame))
        except BaseException:
            self._hub.unsubscribe(peer, channel, params)
            raise
        # From here to the end no checkpoint: the held frames go out before any later one.
        for offset, epoch, frame in self._hub.release(
            peer, channel, key, (replay.epoch, replay.offset)
        ):
            if epoch != replay.epoch or offset > replay.offset:
                peer.deliver(frame)

    async def _unsubscribe(self, peer: Peer, inbound: Inbound) -> bytes:
        found = self._registry.find_channel(inbound.channel)
        if found is not None:
            handler, path_values = found
            params = None
            signature = handler.key_signature
            if inbound.data not in (None, {}) and signature.key_params:
                data = with_path_values(inbound.data, path_values)
                kwargs = await signature.resolve(data, peer.connection)
                params = {name: kwargs[name] for name in signature.key_params}
            try:
                path_key = signature.validate_key(path_values) if path_values else {}
                channel = handler.concrete_name(params if params is not None else path_key)
            except (pydantic.ValidationError, ValueError):
                channel = None  # a value no subscription can have: nothing to remove
            if channel is not None:
                self._hub.unsubscribe(peer, channel, params)
                if handler.presence_enabled:
                    await self._leave(peer, handler.name, params, path_key)
        return encode_reply("unsubscribed", inbound.channel, id=inbound.id)

    async def _publish(self, peer: Peer, inbound: Inbound) -> bytes:
        if not self._publish_policy.allows(peer.connection, inbound.token):
            logger.warning("refused publish to %r from %s", inbound.channel, peer.connection.remote)
            return _error_reply(inbound, PUBLISH_NOT_ALLOWED)
        found = self._registry.find_channel(inbound.channel)
        if found is None:
            return _error_reply(inbound, CHANNEL_NOT_FOUND.format(channel=inbound.channel))
        handler, path_values = found
        data = with_path_values({} if inbound.data is None else inbound.data, path_values)
        kwargs = handler.signature.validate_fields(data)
        await handler(**kwargs)
        return encode_reply("published", inbound.channel, id=inbound.id)

    def _describe(self, exc: BaseException) -> str:
        """The error message for a handler exception, logged as the settings say."""
        self._counters.handler_errors += 1
        name = type(exc).__name__
        if not isinstance(exc, Exception):
            logger.error("handler raised %s; failed that message only", name, exc_info=exc)
            return INTERNAL_SERVER_ERROR
        if self._settings.expose_errors or isinstance(exc, ClientError):
            try:
                text = str(exc)
            except Exception:
                logger.error("handler raised %s, whose str() failed", name, exc_info=exc)
                return INTERNAL_SERVER_ERROR
            logger.info("handler raised %s: %s", name, text)
            # str(exc) as socketapi sends it, made safe to encode as UTF-8 JSON.
            return text.encode("utf-8", "replace").decode("utf-8")
        logger.error("handler raised %s", name, exc_info=exc)
        return INTERNAL_SERVER_ERROR


def _error_reply(inbound: Inbound, text: str) -> bytes:
    """The error frame answering ``inbound`` (``id`` and ``channel`` only if it had an ``id``)."""
    return encode_error(text, id=inbound.id, channel=inbound.channel)


def is_cancellation(exc: BaseException) -> bool:
    """Whether ``exc`` is (or holds, grouped by a nursery) the cancellation of the current task."""
    if isinstance(exc, (trio.Cancelled, GeneratorExit)):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(is_cancellation(inner) for inner in exc.exceptions)
    return False


def _field_errors(errors: list[dict[str, Any]]) -> str:
    """Pydantic's field errors as one log line: ``a.b: message; c: message``."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error.get('loc', ())) or '(data)'}: {error.get('msg')}"
        for error in errors
    )


def _peer_text(connection: Connection) -> str:
    remote = connection.remote
    return f"{remote[0]}:{remote[1]}" if remote else "in-memory"


def with_path_values(data: object, path_values: dict[str, str]) -> object:
    """The client's ``data`` with the values its name carried (``chat/42``: room_id "42").

    The name's values win over the same keys in ``data``: the name is what was addressed.
    ``data`` that is not an object is left as it is, for validation to refuse.
    """
    if not path_values:
        return data
    if data is None:
        return dict(path_values)
    if isinstance(data, dict):
        return {**data, **path_values}
    return data


class ClientError(Exception):
    """An error meant for the client: its message is sent even with ``expose_errors=False``."""
