"""Fakes of the small interfaces the pure modules talk through, for unit tests without I/O.

``FakeSubscriber`` is the hub's ``Subscriber``, ``FakePeer`` the dispatcher's ``Peer``: each
keeps the frames it is handed, and ``received()`` parses them as a client would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic_core

from trio_socketapi import Connection


def payload(frame: bytes) -> bytes:
    """The payload of one server frame (final, unmasked text, as the server writes them)."""
    assert frame[0] == 0x81, "one final text frame"
    size = frame[1] & 0x7F
    start = 2 if size < 126 else 4 if size == 126 else 10
    return frame[start:]


class FakeSubscriber:
    """A ``Subscriber`` that keeps what it is handed; ``on_deliver`` runs after each frame."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.frames: list[bytes] = []
        self.on_deliver: Callable[[], None] | None = None

    def deliver(self, frame: bytes) -> None:
        self.frames.append(frame)
        if self.on_deliver is not None:
            self.on_deliver()

    def received(self) -> list[Any]:
        """The frames so far, parsed."""
        return [pydantic_core.from_json(payload(frame)) for frame in self.frames]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class FakePeer(FakeSubscriber):
    """A ``Peer``: replies (``send``) and broadcasts (``deliver``) land in one list, in order."""

    def __init__(self, name: str = "peer", *, remote: tuple[str, int] | None = None) -> None:
        super().__init__(name)
        self.connection = Connection(
            path="/", query_string="", headers={}, remote=remote or ("127.0.0.1", 50000)
        )

    async def send(self, frame: bytes) -> None:
        self.frames.append(frame)
