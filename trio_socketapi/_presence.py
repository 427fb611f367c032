"""Presence: who is subscribed to each stream of a ``presence=True`` channel.

Each server keeps its own entries (``LocalPresence``): a connection's ``id`` and the JSON of
its ``info``, per stream, added when it subscribes and removed when the subscription ends (an
unsubscribe or the connection closing). The broker answers ``channel.presence(...)`` from the
entries of every server it reaches: the running servers of this process with the memory broker,
every process's entries in Redis with ``RedisBroker`` (where each process refreshes its own, so
a crashed process's entries expire). Pure: no trio, no I/O.

Joins and leaves also travel as broadcasts (``Broadcast.event``) so that every server sends
``join``/``leave`` frames to its extended subscribers of the stream.
"""

from __future__ import annotations

from collections.abc import Iterator

from ._protocol import to_json

PresenceEntries = dict[str, bytes]
"""One stream's entries: connection id to the JSON of its ``info``."""


class LocalPresence:
    """The presence entries of one server's connections."""

    def __init__(self) -> None:
        self._streams: dict[tuple[str, bytes], PresenceEntries] = {}

    def add(self, channel: str, key: bytes, client_id: str, info_json: bytes) -> bool:
        """Enter a connection in a stream; whether it was not in it already."""
        entries = self._streams.setdefault((channel, key), {})
        new = client_id not in entries
        entries[client_id] = info_json
        return new

    def remove(self, channel: str, key: bytes, client_id: str) -> bool:
        """Take a connection out of a stream; whether it was in it."""
        entries = self._streams.get((channel, key))
        if entries is None or client_id not in entries:
            return False
        del entries[client_id]
        if not entries:
            del self._streams[channel, key]
        return True

    def remove_client(
        self, client_id: str, channel: str | None = None
    ) -> list[tuple[str, bytes, bytes]]:
        """Take a connection out of every stream (of ``channel``, if given); return
        ``(channel, key JSON, info JSON)`` of each it was in."""
        left = []
        for name, key in list(self._streams):
            if channel is None or name == channel:
                info_json = self._streams[name, key].get(client_id)
                if info_json is not None and self.remove(name, key, client_id):
                    left.append((name, key, info_json))
        return left

    def members(self, channel: str, key: bytes) -> PresenceEntries:
        """The entries of one stream (a copy)."""
        return dict(self._streams.get((channel, key), {}))

    def streams(self) -> Iterator[tuple[str, bytes, PresenceEntries]]:
        """Every stream with entries here, as ``(channel, key JSON, entries)``."""
        for (channel, key), entries in list(self._streams.items()):
            yield channel, key, dict(entries)


def encode_presence_event(
    kind: str, channel_json: bytes, params_json: bytes | None, client_id: str, info_json: bytes
) -> bytes:
    """A ``join``/``leave`` frame: ``{"type", "channel", "params"?, "client", "info"}``."""
    parts = [b'{"type":', to_json(kind), b',"channel":', channel_json]
    if params_json is not None:
        parts += (b',"params":', params_json)
    parts += (b',"client":', to_json(client_id), b',"info":', info_json, b"}")
    return b"".join(parts)
