"""History of a channel's streams, kept in this process: offsets, epochs, and replay.

A *stream* is one channel and one subscription key (``chat_room`` with ``room_id="a"``), named
here by the channel and the key's JSON (``_hub.key_of``). Every publication recorded in a stream
gets the next ``offset`` (the first is 1); the stream's ``epoch`` is a string that names one
unbroken numbering: a stream that is forgotten and starts again gets a new epoch, so a client
holding an old ``(offset, epoch)`` learns that it cannot recover instead of getting a gap.

``MemoryStreams`` is pure: no trio, no I/O; the caller passes the time (``trio.current_time()``,
so tests run under the autojump clock). Recording and reading are synchronous, so a publication
is recorded and delivered, and a subscriber reads and joins, with no checkpoint in between.
The ``RedisBroker`` keeps the same model in Redis instead (``trio_socketapi/redis.py``).
"""

from __future__ import annotations

import secrets
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import pydantic_core


def _positive(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value <= 0:
        raise ValueError(f"History.{attribute.name} must be positive, got {value!r}")


@attrs.frozen
class History:
    """Keep a channel's publications so that reconnecting clients recover what they missed.

    Every stream of the channel (the channel with one subscription key) keeps its newest
    ``size`` publications for at most ``ttl`` seconds. ``position_ttl`` is how long a stream's
    epoch and last offset outlive its last publication or subscription (at least ``ttl``): a
    client of a quiet stream still recovers, with nothing to replay; after that the stream
    starts again under a new epoch. Raises ``ValueError`` for a size or time that is not
    positive, or ``position_ttl < ttl``.
    """

    size: int = attrs.field(validator=_positive)
    ttl: float = attrs.field(validator=_positive)
    position_ttl: float = attrs.field(default=86_400.0, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.position_ttl < self.ttl:
            raise ValueError("History.position_ttl must be at least ttl")


@attrs.frozen
class Since:
    """Where a client stopped: the last ``offset`` it received of a stream, under ``epoch``."""

    offset: int
    epoch: str


@attrs.frozen
class Entry:
    """One kept publication: its ``offset`` and its data's JSON (``None``: a frame without data)."""

    offset: int
    data_json: bytes | None


@attrs.frozen
class Publication:
    """One kept publication as ``await channel.history(...)`` returns it."""

    offset: int
    """Its position in the stream (the first publication is 1)."""
    epoch: str
    """The stream's epoch when it was recorded."""
    data: Any
    """The channel function's result, as the subscribers received it (decoded JSON)."""


@attrs.frozen
class Replay:
    """What a subscribing client is told about a stream.

    ``epoch`` and ``offset`` are the stream's position (the newest offset, 0 if none yet).
    ``entries`` are the publications after the client's ``Since``, in order, or ``None`` if
    they cannot all be given (another epoch, or the next one is no longer kept): not recovered.
    Without a ``Since``, ``entries`` is empty.
    """

    epoch: str
    offset: int
    entries: Sequence[Entry] | None

    @property
    def recovered(self) -> bool:
        """Whether every publication after the client's position is in ``entries``."""
        return self.entries is not None


def recovery(since: Since | None, epoch: str, offset: int, kept: Sequence[Entry]) -> Replay:
    """Decide what a subscriber at ``since`` gets from a stream at ``(epoch, offset)``.

    ``kept`` are the stream's kept publications after ``since.offset`` (oldest first; any
    backend may pass more, older ones are skipped). The rule, the same for every backend:
    recovered when the epoch is the stream's and the publication right after the client's
    offset is still kept (or there is none yet).
    """
    if since is None:
        return Replay(epoch, offset, ())
    if since.epoch != epoch or since.offset > offset:
        return Replay(epoch, offset, None)
    after = [entry for entry in kept if entry.offset > since.offset]
    if since.offset < offset and (not after or after[0].offset != since.offset + 1):
        return Replay(epoch, offset, None)
    return Replay(epoch, offset, after)


def new_epoch() -> str:
    """A fresh epoch: random, so a restarted process never reuses its predecessor's."""
    return secrets.token_hex(4)


@attrs.define(eq=False)
class _Stream:
    epoch: str
    params: Mapping[str, Any]
    offset: int = 0
    expires: float = 0.0
    entries: deque[tuple[float, Entry]] = attrs.field(factory=deque)


class MemoryStreams:
    """The streams of every history channel of one app in this process.

    Streams are created on first use (a subscription or a publication) and forgotten
    ``position_ttl`` after their last use; entries older than ``ttl`` are dropped as they are
    met. Forgetting is amortised: each use drops the streams that have been idle longest.
    """

    def __init__(self) -> None:
        self._streams: OrderedDict[tuple[str, bytes], _Stream] = OrderedDict()
        self._by_channel: dict[str, dict[bytes, _Stream]] = {}

    def record(
        self,
        channel: str,
        keys: Iterable[tuple[bytes, Mapping[str, Any]]],
        data_json: bytes | None,
        history: History,
        now: float,
    ) -> list[tuple[bytes, int, str]]:
        """Record one publication in each stream ``keys`` names (key JSON and its values).

        Returns ``(key JSON, offset, epoch)`` per stream, in the order given.
        """
        self._forget_idle(now)
        positions = []
        for key, params in keys:
            stream = self._use(channel, key, params, now)
            stream.expires = now + history.position_ttl
            stream.offset += 1
            stream.entries.append((now, Entry(stream.offset, data_json)))
            if len(stream.entries) > history.size:
                stream.entries.popleft()
            positions.append((key, stream.offset, stream.epoch))
        return positions

    def matching(
        self, channel: str, key: Mapping[str, Any], now: float
    ) -> list[tuple[bytes, Mapping[str, Any]]]:
        """The live streams of ``channel`` whose key agrees with every value in ``key`` (for a
        broadcast that names only some key parameters), as ``(key JSON, values)``."""
        return [
            (k, s.params)
            for k, s in self._by_channel.get(channel, {}).items()
            if s.expires >= now and all(s.params.get(n) == v for n, v in key.items())
        ]

    def read(
        self,
        channel: str,
        key: bytes,
        params: Mapping[str, Any],
        since: Since | None,
        history: History,
        now: float,
    ) -> Replay:
        """The position of a stream and, for a client at ``since``, what it missed."""
        self._forget_idle(now)
        stream = self._use(channel, key, params, now)
        stream.expires = now + history.position_ttl
        kept = self._kept(stream, history, now)
        return recovery(since, stream.epoch, stream.offset, kept)

    def recent(
        self, channel: str, key: bytes, limit: int, history: History, now: float
    ) -> list[Publication]:
        """The newest ``limit`` kept publications of a stream, oldest first."""
        self._forget_idle(now)
        stream = self._streams.get((channel, key))
        if stream is None or stream.expires < now or limit <= 0:
            return []
        kept = self._kept(stream, history, now)[-limit:]
        return [publication(entry, stream.epoch) for entry in kept]

    def _use(self, channel: str, key: bytes, params: Mapping[str, Any], now: float) -> _Stream:
        stream = self._streams.get((channel, key))
        if stream is not None and stream.expires < now:
            self._forget(channel, key)  # idle too long: it starts again under a new epoch
            stream = None
        if stream is None:
            stream = _Stream(new_epoch(), dict(params))
            self._streams[channel, key] = stream
            self._by_channel.setdefault(channel, {})[key] = stream
        else:
            self._streams.move_to_end((channel, key))
        return stream

    @staticmethod
    def _kept(stream: _Stream, history: History, now: float) -> list[Entry]:
        entries = stream.entries
        while entries and entries[0][0] < now - history.ttl:
            entries.popleft()
        return [entry for _, entry in entries]

    def _forget_idle(self, now: float) -> None:
        # Streams are kept in order of last use, so the expired ones are at the front (with
        # channels of different position_ttl some may linger; _use never revives those).
        while self._streams:
            (channel, key), stream = next(iter(self._streams.items()))
            if stream.expires >= now:
                break
            self._forget(channel, key)

    def _forget(self, channel: str, key: bytes) -> None:
        del self._streams[channel, key]
        by_key = self._by_channel[channel]
        del by_key[key]
        if not by_key:
            del self._by_channel[channel]


def publication(entry: Entry, epoch: str) -> Publication:
    """A kept entry as the app sees it, its data decoded."""
    data = None if entry.data_json is None else pydantic_core.from_json(entry.data_json)
    return Publication(entry.offset, epoch, data)
