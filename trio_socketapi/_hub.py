"""Who is subscribed to what, and the fan-out of one broadcast to them.

Subscriptions are grouped by channel, then by subscription key (the JSON of the
``RequiredOnSubscribe`` values), so a broadcast that names the whole key finds its subscribers with
one dict lookup. Within a key group, subscribers are split by the frame they get (extensions are
opt-in per subscription): plain ones (``subscribers``, subscribed without an ``id``) get socketapi's
exact ``{"type","channel","data"}``, the same bytes for every key group; ``extended`` ones
(subscribed with an ``id``) also get the key as ``params``, one encoding per key group. A broadcast
serialises its data once and encodes each variant only if some subscriber gets it; each
subscriber gets the same bytes through ``deliver``, which never blocks.

On a history channel a broadcast carries the ``(offset, epoch)`` it got in each stream
(``positions``, by key JSON) and reaches only those streams' groups. Subscriptions made with an
``id`` (``extended``) get those in their frames; the others get socketapi's frames. A subscription
can join *held* (recovery, see _dispatch.py): it is registered at once, so it misses nothing,
but its frames are kept aside until ``release`` hands them over, after the replay.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import attrs

from ._counters import Counters
from ._frames import text_frame
from ._protocol import encode_data, encode_position, to_json

Held = list[tuple[int, str, bytes]]
"""Frames kept for a held subscription: ``(offset, epoch, frame)``, in arrival order."""


class Subscriber(Protocol):
    """What the hub needs of a connection: a way to hand it a frame without waiting."""

    def deliver(self, frame: bytes) -> None:
        """Queue ``frame`` for sending; a full queue closes the subscriber, never blocks."""


@attrs.define(eq=False)
class _KeyGroup:
    params: Mapping[str, Any]
    params_json: bytes | None
    subscribers: dict[Subscriber, None] = attrs.field(factory=dict)
    extended: dict[Subscriber, None] = attrs.field(factory=dict)
    held: dict[Subscriber, Held] = attrs.field(factory=dict)
    floors: dict[Subscriber, tuple[str, int]] = attrs.field(factory=dict)
    """Extended subscribers just released, with the ``(epoch, offset)`` their replay reached."""

    def __contains__(self, subscriber: Subscriber) -> bool:
        return (
            subscriber in self.subscribers or subscriber in self.extended or subscriber in self.held
        )

    def __len__(self) -> int:
        return len(self.subscribers) + len(self.extended) + len(self.held)

    def drop(self, subscriber: Subscriber) -> bool:
        """Remove ``subscriber`` in whatever mode it holds; whether it was there."""
        self.floors.pop(subscriber, None)
        for members in (self.subscribers, self.extended, self.held):
            if subscriber in members:
                del members[subscriber]
                return True
        return False


def key_of(params: Mapping[str, Any]) -> bytes:
    """The identity of a subscription key: its JSON (hashable whatever the value types)."""
    return to_json(params) if params else b""


class Hub:
    """The subscription index of one app, shared by every connection it serves."""

    def __init__(self, counters: Counters) -> None:
        self._counters = counters
        self._channels: dict[str, dict[bytes, _KeyGroup]] = {}
        self._by_subscriber: dict[Subscriber, set[tuple[str, bytes]]] = {}

    def subscribe(
        self,
        subscriber: Subscriber,
        channel: str,
        params: Mapping[str, Any],
        *,
        extended: bool = False,
        hold: bool = False,
    ) -> None:
        """Add one subscription; subscribing twice with the same key is one subscription (in the
        mode of the latest call). ``extended``: frames carry the extension keys; ``hold``: join
        held until ``release`` (implies ``extended``)."""
        key = key_of(params)
        groups = self._channels.setdefault(channel, {})
        group = groups.get(key)
        if group is None:
            group = groups[key] = _KeyGroup(dict(params), key or None)
        if not group.drop(subscriber):
            self._counters.subscriptions += 1
        if hold:
            group.held[subscriber] = []
        elif extended:
            group.extended[subscriber] = None
        else:
            group.subscribers[subscriber] = None
        self._by_subscriber.setdefault(subscriber, set()).add((channel, key))

    def release(
        self, subscriber: Subscriber, channel: str, key: bytes, floor: tuple[str, int]
    ) -> Held:
        """End a held subscription's hold: return the frames kept for it; from now on it
        receives as an extended one. Empty if it is not held (it was unsubscribed meanwhile).

        ``floor`` is the ``(epoch, offset)`` its replay reached: a live frame of that epoch at
        or below it is not delivered. On Redis a publication's pub/sub copy can arrive after the
        stream read that already replayed it; offsets arrive in order, so the first frame past
        the floor ends the check.
        """
        group = self._channels.get(channel, {}).get(key)
        if group is None or subscriber not in group.held:
            return []
        held = group.held.pop(subscriber)
        group.extended[subscriber] = None
        group.floors[subscriber] = floor
        return held

    def unsubscribe(
        self, subscriber: Subscriber, channel: str, params: Mapping[str, Any] | None
    ) -> None:
        """Remove the subscription with key ``params``, or every one of ``channel`` if ``None``."""
        held = self._by_subscriber.get(subscriber)
        if not held:
            return
        if params is None:
            keys = [key for name, key in held if name == channel]
        else:
            keys = [key_of(params)]
        for key in keys:
            self._discard(subscriber, channel, key)
            held.discard((channel, key))
        if not held:
            del self._by_subscriber[subscriber]

    def remove(self, subscriber: Subscriber) -> None:
        """Forget every subscription of a closed connection."""
        for channel, key in self._by_subscriber.pop(subscriber, ()):
            self._discard(subscriber, channel, key)

    def subscription_count(self, subscriber: Subscriber) -> int:
        """How many subscriptions ``subscriber`` holds."""
        return len(self._by_subscriber.get(subscriber, ()))

    def subscriber_count(self, channel: str) -> int:
        """How many subscriptions ``channel`` has, over all keys."""
        return sum(len(g) for g in self._channels.get(channel, {}).values())

    def publish(
        self,
        channel: str,
        key: Mapping[str, Any],
        key_size: int,
        data_json: bytes | None,
        positions: Mapping[bytes, tuple[int, str]] | None = None,
    ) -> int:
        """Deliver one data frame to the channel's subscribers matching ``key``; return how many.

        ``key`` holds the key parameters the broadcast named (``key_size`` is how many the channel
        has): all of them selects one key group, fewer select every group that agrees on them.
        ``positions`` (history channels) selects the groups of the streams it names instead.
        """
        groups = self._channels.get(channel)
        if not groups:
            return 0
        if positions is not None:
            return self._publish_recorded(channel, groups, data_json, positions)
        if len(key) == key_size:
            group = groups.get(key_of(key))
            targets = [group] if group is not None else []
        else:
            targets = [
                g for g in groups.values() if all(g.params.get(k) == v for k, v in key.items())
            ]
        channel_json = to_json(channel)
        plain: bytes | None = None  # the same bytes for every key group
        delivered = 0
        for group in targets:
            if group.subscribers:
                if plain is None:
                    plain = text_frame(encode_data(channel_json, data_json, None))
                delivered += _deliver_all(group.subscribers, plain)
            if group.extended:
                if group.params_json is None and plain is not None:
                    frame = plain  # no key: the extended frame has nothing to add
                else:
                    frame = text_frame(encode_data(channel_json, data_json, group.params_json))
                delivered += _deliver_all(group.extended, frame)
        return delivered

    def notify(self, channel: str, key: Mapping[str, Any], frame: bytes) -> int:
        """Send a non-data ``frame`` (presence) to the extended subscribers of one key group."""
        group = self._channels.get(channel, {}).get(key_of(key))
        if group is None:
            return 0
        subscribers = list(group.extended)
        for subscriber in subscribers:
            subscriber.deliver(frame)
        return len(subscribers)

    def _publish_recorded(
        self,
        channel: str,
        groups: dict[bytes, _KeyGroup],
        data_json: bytes | None,
        positions: Mapping[bytes, tuple[int, str]],
    ) -> int:
        channel_json = to_json(channel)
        plain: bytes | None = None  # the same bytes for every stream
        delivered = 0
        for key, (offset, epoch) in positions.items():
            group = groups.get(key)
            if group is None:
                continue
            if group.subscribers:
                if plain is None:
                    plain = text_frame(encode_data(channel_json, data_json, None))
                delivered += _deliver_all(group.subscribers, plain)
            if group.extended or group.held:
                position = encode_position(offset, epoch)
                frame = text_frame(
                    encode_data(channel_json, data_json, group.params_json, position)
                )
                if group.floors:
                    delivered += _deliver_past_floors(group, offset, epoch, frame)
                else:
                    delivered += _deliver_all(group.extended, frame)
                for held in group.held.values():
                    held.append((offset, epoch, frame))
        return delivered

    def _discard(self, subscriber: Subscriber, channel: str, key: bytes) -> None:
        groups = self._channels.get(channel)
        if groups is None or key not in groups:
            return
        group = groups[key]
        if group.drop(subscriber):
            self._counters.subscriptions -= 1
        if not group:
            del groups[key]
            if not groups:
                del self._channels[channel]


def _deliver_all(subscribers: dict[Subscriber, None], frame: bytes) -> int:
    # deliver() may close a slow subscriber, which unsubscribes it: iterate over a copy.
    targets = list(subscribers)
    for subscriber in targets:
        subscriber.deliver(frame)
    return len(targets)


def _deliver_past_floors(group: _KeyGroup, offset: int, epoch: str, frame: bytes) -> int:
    """Deliver to ``group.extended``, skipping a just-released subscriber's frame its replay
    already held (see ``Hub.release``)."""
    floors = group.floors
    targets = []
    for subscriber in list(group.extended):
        floor = floors.get(subscriber)
        if floor is not None:
            if floor[0] == epoch and offset <= floor[1]:
                continue
            del floors[subscriber]
        targets.append(subscriber)
    for subscriber in targets:
        subscriber.deliver(frame)
    return len(targets)
