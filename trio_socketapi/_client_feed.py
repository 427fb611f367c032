"""``Feed``: one subscription's data as an async iterator, with a bounded buffer.

The client's reader task hands every data frame to ``Feed.put``, which never waits: a reader that
waited for one slow consumer would stall every action and every other feed of the connection.
So each feed buffers at most ``size`` messages, and ``overflow`` says what happens past that:

- ``"raise"`` (the default): nothing is lost silently. The consumer receives every message
  buffered before the overflow, then iterating raises ``FeedOverflow``; the feed is over (the
  subscription is left when its ``async with`` block ends, as always).
- ``"drop_oldest"``: the oldest buffered message makes room for the new one and ``dropped`` counts
  it; for feeds where only the latest state matters (a clock, a price, presence).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, Literal, TypeVar

import trio

T = TypeVar("T")

Overflow = Literal["raise", "drop_oldest"]


class FeedOverflow(Exception):
    """A feed's buffer was full when a message arrived: that message and later ones are lost."""


class NotRecovered(Exception):
    """Raised by a feed of a history channel, in order, where publications may be missing.

    After a reconnect the client resubscribes with the last offset it received; if the server
    cannot replay everything after it (``"recovered": false``: the history was lost or trimmed),
    or if frames arrive out of sequence, the feed raises this once, at that point of the
    stream, and carries on: the next messages are the channel's default response (if any) and
    the live ones. Reload the state the feed was keeping, then iterate again.
    """


_NOT_RECOVERED = object()


class Feed(Generic[T]):
    """The data frames of one subscription, in arrival order: ``async for data in feed``.

    Iteration ends when the client is closed, and raises when the subscription is lost for
    good: ``ConnectionLost`` if reconnecting failed, ``ActionError`` if the server refused to
    resubscribe after a reconnect, ``FeedOverflow`` (see the module docs) if it fell behind.
    """

    def __init__(
        self,
        channel: str,
        params: Mapping[str, Any],
        decode: Callable[[Any], T],
        *,
        size: int,
        overflow: Overflow,
    ) -> None:
        if size < 1:
            raise ValueError(f"a feed's buffer holds at least one message, got size={size}")
        if overflow not in ("raise", "drop_oldest"):
            raise ValueError(f"overflow must be 'raise' or 'drop_oldest', got {overflow!r}")
        self.channel = channel
        """The channel subscribed to."""
        self.params = dict(params)
        """The parameters sent with the subscribe."""
        self.dropped = 0
        """Messages dropped to make room (``overflow="drop_oldest"`` only)."""
        self.not_recovered = 0
        """How many times this feed raised ``NotRecovered`` (or will, once read that far)."""
        self._decode = decode
        self._overflow = overflow
        self._send, self._receive = trio.open_memory_channel[Any](size)
        self._error: BaseException | None = None
        self._ended = False

    def put(self, data: Any) -> None:
        """Buffer one message; never waits (applies the overflow policy instead)."""
        if self._ended:
            return
        try:
            self._send.send_nowait(data)
        except trio.WouldBlock:
            if self._overflow == "drop_oldest":
                self._receive.receive_nowait()
                self.dropped += 1
                self._send.send_nowait(data)
            else:
                size = self._send.statistics().max_buffer_size
                self.end(FeedOverflow(f"feed of {self.channel!r} fell {size} messages behind"))

    def mark_not_recovered(self) -> None:
        """Put a ``NotRecovered`` in the stream here: ``receive`` raises it when it gets to it."""
        self.not_recovered += 1
        self.put(_NOT_RECOVERED)

    def end(self, error: BaseException | None = None) -> None:
        """No more messages: iteration ends after the buffered ones, then raises ``error``."""
        if not self._ended:
            self._ended = True
            self._error = error
            self._send.close()

    @property
    def ended(self) -> bool:
        """Whether the feed takes no more messages (its subscription was left or lost)."""
        return self._ended

    async def receive(self) -> T:
        """The next message; raises ``trio.EndOfChannel`` once a feed ended cleanly."""
        try:
            data = await self._receive.receive()
        except trio.EndOfChannel:
            if self._error is not None:
                raise self._error from None
            raise
        if data is _NOT_RECOVERED:
            raise NotRecovered(
                f"publications to {self.channel!r} {self.params!r} may be missing (not recovered)"
            )
        return self._decode(data)

    def __aiter__(self) -> Feed[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    def __repr__(self) -> str:
        return f"<Feed {self.channel!r} {self.params!r}>"
