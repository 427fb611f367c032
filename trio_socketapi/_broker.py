"""Brokers carry broadcasts to the processes that deliver them.

Every broadcast is published to the app's broker as a ``Broadcast``; each serving process
receives it back and delivers it to its own subscribers. ``MemoryBroker`` (the default) hands the
message to the servers of this process directly; a shared broker (``RedisBroker``) crosses
process and host boundaries, so several servers behave as one.

A broadcast to a channel with history goes through ``publish_recorded`` instead: the broker
records it in the streams it reaches and delivers it, with the offsets it got, as one step, so
no server delivers a publication that history does not hold. The broker also answers the
history reads (``read_stream``, ``recent``): where history lives is the broker's business.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import attrs
import pydantic_core
import trio

from ._history import History, MemoryStreams, Publication, Replay, Since
from ._presence import LocalPresence
from ._protocol import to_json

StreamKeys = Sequence[tuple[bytes, Mapping[str, Any]]]
"""Streams of one channel as ``(key JSON, key values)``."""


@attrs.frozen
class Broadcast:
    """One channel result on its way to the subscribers.

    ``key`` holds the subscription-key values the call named (validated); ``data_json`` is the
    result's JSON, or ``None`` for a ``None`` result. ``positions`` (history channels only) are
    the ``(key JSON, offset, epoch)`` the publication got in each stream it was recorded in;
    it reaches those streams' subscribers only.
    """

    channel: str
    key: Mapping[str, Any]
    data_json: bytes | None
    positions: tuple[tuple[bytes, int, str], ...] | None = None
    event: tuple[str, str, bytes] | None = None
    """A presence change instead of a publication: ``(kind, connection id, info JSON)``,
    ``kind`` "join" or "leave", in the stream ``key`` names (its whole key)."""

    def encode(self) -> bytes:
        """The broker wire form: ``{"channel": C, "key": {...}, "data": D}`` (no ``data``: None),
        plus ``"streams": [[key JSON as a string, offset, epoch], ...]`` when recorded."""
        parts = [b'{"channel":', to_json(self.channel), b',"key":', to_json(dict(self.key))]
        if self.data_json is not None:
            parts += (b',"data":', self.data_json)
        if self.positions is not None:
            streams = [[key.decode(), offset, epoch] for key, offset, epoch in self.positions]
            parts += (b',"streams":', to_json(streams))
        if self.event is not None:
            kind, client_id, info_json = self.event
            parts += (b',"event":[', to_json(kind), b",", to_json(client_id), b",")
            parts += (info_json, b"]")
        parts.append(b"}")
        return b"".join(parts)

    @classmethod
    def decode(cls, raw: bytes | str) -> Broadcast:
        """Parse the broker wire form; raises ``ValueError`` if it is not one."""
        message = pydantic_core.from_json(raw)
        if not isinstance(message, dict) or not isinstance(message.get("channel"), str):
            raise ValueError("broker message must be an object with a string 'channel'")
        key = message.get("key") or {}
        if not isinstance(key, dict):
            raise ValueError("broker message 'key' must be an object")
        data_json = to_json(message["data"]) if "data" in message else None
        positions = None
        if "streams" in message:
            positions = _positions(message["streams"])
        event = None
        if "event" in message:
            event = _event(message["event"])
        return cls(message["channel"], key, data_json, positions, event)


def _event(event: object) -> tuple[str, str, bytes]:
    if (
        not isinstance(event, list)
        or len(event) != 3
        or event[0] not in ("join", "leave")
        or not isinstance(event[1], str)
    ):
        raise ValueError('broker message \'event\' must be ["join" or "leave", id, info]')
    return event[0], event[1], to_json(event[2])


def _positions(streams: object) -> tuple[tuple[bytes, int, str], ...]:
    if not isinstance(streams, list) or not all(
        isinstance(s, list)
        and len(s) == 3
        and isinstance(s[0], str)
        and isinstance(s[1], int)
        and isinstance(s[2], str)
        for s in streams
    ):
        raise ValueError("broker message 'streams' must be a list of [key, offset, epoch]")
    return tuple((s[0].encode(), s[1], s[2]) for s in streams)


Receiver = Callable[[Broadcast], None]


class Broker(Protocol):
    """Where an app publishes its broadcasts and its servers receive them."""

    @property
    def is_shared(self) -> bool:
        """Whether other processes receive what is published here (then a process with no
        server publishes straight to the broker instead of forwarding to a server)."""

    async def publish(self, broadcast: Broadcast) -> None:
        """Send ``broadcast`` to every receiver, in this process and (if shared) beyond."""

    async def run(
        self, receiver: Receiver, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Call ``receiver`` for every broadcast until cancelled; report started when ready.

        Raises if the broker cannot be reached at start; once started it keeps trying.
        """

    async def publish_recorded(
        self, broadcast: Broadcast, streams: StreamKeys | None, history: History
    ) -> None:
        """Record ``broadcast`` in ``streams`` (``None``: every live stream of the channel that
        agrees with ``broadcast.key``) and send it with its positions, as one step."""

    async def read_stream(
        self,
        channel: str,
        key: bytes,
        params: Mapping[str, Any],
        since: Since | None,
        history: History,
    ) -> Replay:
        """A stream's position and what a client at ``since`` missed (see ``_history.recovery``)."""

    async def recent(
        self, channel: str, key: bytes, limit: int, history: History
    ) -> list[Publication]:
        """The newest ``limit`` kept publications of a stream, oldest first."""

    async def keep_presence(self, local: LocalPresence) -> None:
        """Count ``local``'s entries in ``presence`` answers until cancelled (refreshing them
        where they are shared, so they expire once this stops)."""

    async def presence_changed(self, event: Broadcast, key: bytes) -> None:
        """Record a join or leave (``event.event``) of stream ``key`` where presence is shared,
        and send it to every server, which tells its subscribers."""

    async def presence(self, channel: str, key: bytes) -> dict[str, Any]:
        """Who is in a stream: connection id to ``info``, over every server reached."""


class MemoryBroker:
    """The default broker: delivers to the receivers running in this process, synchronously."""

    def __init__(self) -> None:
        self._receivers: list[Receiver] = []
        self.streams = MemoryStreams()
        """The history of this app's channels, kept in this process."""
        self._presence: list[LocalPresence] = []

    @property
    def is_shared(self) -> bool:
        """Never: nothing leaves this process."""
        return False

    async def publish(self, broadcast: Broadcast) -> None:
        """Hand ``broadcast`` to every running receiver before returning."""
        for receiver in list(self._receivers):
            receiver(broadcast)

    async def publish_recorded(
        self, broadcast: Broadcast, streams: StreamKeys | None, history: History
    ) -> None:
        """Record and deliver with no checkpoint between: a subscriber that read the history
        before this sees the publication live, one that reads it after finds it there."""
        now = trio.current_time()
        if streams is None:
            streams = self.streams.matching(broadcast.channel, broadcast.key, now)
        positions = self.streams.record(
            broadcast.channel, streams, broadcast.data_json, history, now
        )
        await self.publish(attrs.evolve(broadcast, positions=tuple(positions)))

    async def read_stream(
        self,
        channel: str,
        key: bytes,
        params: Mapping[str, Any],
        since: Since | None,
        history: History,
    ) -> Replay:
        """Read the stream in this process (no checkpoint)."""
        return self.streams.read(channel, key, params, since, history, trio.current_time())

    async def recent(
        self, channel: str, key: bytes, limit: int, history: History
    ) -> list[Publication]:
        """The kept publications in this process."""
        return self.streams.recent(channel, key, limit, history, trio.current_time())

    async def keep_presence(self, local: LocalPresence) -> None:
        """Answer ``presence`` from ``local`` too, until cancelled."""
        self._presence.append(local)
        try:
            await trio.sleep_forever()
        finally:
            self._presence.remove(local)

    async def presence_changed(self, event: Broadcast, key: bytes) -> None:
        """Deliver the join or leave to the servers of this process."""
        await self.publish(event)

    async def presence(self, channel: str, key: bytes) -> dict[str, Any]:
        """The entries of the servers running in this process."""
        found: dict[str, Any] = {}
        for local in self._presence:
            for client_id, info_json in local.members(channel, key).items():
                found[client_id] = pydantic_core.from_json(info_json)
        return found

    async def run(
        self, receiver: Receiver, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Register ``receiver`` until cancelled."""
        self._receivers.append(receiver)
        try:
            task_status.started()
            await trio.sleep_forever()
        finally:
            self._receivers.remove(receiver)
