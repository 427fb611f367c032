"""Brokers carry broadcasts to the processes that deliver them.

Every broadcast is published to the app's broker as a ``Broadcast``; each serving process
receives it back and delivers it to its own subscribers. ``MemoryBroker`` (the default) hands the
message to the servers of this process directly; a shared broker (``RedisBroker``) crosses
process and host boundaries, so several servers behave as one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import attrs
import pydantic_core
import trio

from ._protocol import to_json


@attrs.frozen
class Broadcast:
    """One channel result on its way to the subscribers.

    ``key`` holds the subscription-key values the call named (validated); ``data_json`` is the
    result's JSON, or ``None`` for a ``None`` result.
    """

    channel: str
    key: Mapping[str, Any]
    data_json: bytes | None

    def encode(self) -> bytes:
        """The broker wire form: ``{"channel": C, "key": {...}, "data": D}`` (no ``data``: None)."""
        parts = [b'{"channel":', to_json(self.channel), b',"key":', to_json(dict(self.key))]
        if self.data_json is not None:
            parts += (b',"data":', self.data_json)
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
        return cls(message["channel"], key, data_json)


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


class MemoryBroker:
    """The default broker: delivers to the receivers running in this process, synchronously."""

    def __init__(self) -> None:
        self._receivers: list[Receiver] = []

    @property
    def is_shared(self) -> bool:
        """Never: nothing leaves this process."""
        return False

    async def publish(self, broadcast: Broadcast) -> None:
        """Hand ``broadcast`` to every running receiver before returning."""
        for receiver in list(self._receivers):
            receiver(broadcast)

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
