"""The dispatch registry: channel and action names to their handlers, one name one handler;
and the lifespans and background tasks that run while the app is served.

A name the client sends is looked up in a dict first (literal names, the common case, cost
what they always did); only on a miss is it matched against the patterns (``chat/{room_id}``,
see _paths.py), which never overlap, so at most one matches.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # only stored and looked up here: the registry stays free of trio
    from ._handlers import ActionHandler, ChannelHandler

Lifespan = Callable[[], AsyncIterator[None]]
"""An async generator function that sets something up, yields once, and tears it down."""
BackgroundTask = Callable[[], Awaitable[None]]
"""An ``async def`` function run for as long as the server serves."""


class Registry:
    """Handlers by name. Channels and actions are separate namespaces, as on the wire."""

    def __init__(self) -> None:
        self.channels: dict[str, ChannelHandler[Any, Any]] = {}
        self.actions: dict[str, ActionHandler[Any, Any]] = {}
        self.channel_patterns: list[ChannelHandler[Any, Any]] = []
        """The channels whose name has path parameters, also in ``channels`` by template."""
        self.action_patterns: list[ActionHandler[Any, Any]] = []
        """The actions whose name has path parameters, also in ``actions`` by template."""
        self.lifespans: list[Lifespan] = []
        self.background_tasks: list[BackgroundTask] = []

    def add_channel(self, handler: ChannelHandler[Any, Any]) -> None:
        """Register a channel; raises ``ValueError`` if the name is taken by another handler."""
        _claim(self.channels, self.channel_patterns, "channel", handler)

    def add_action(self, handler: ActionHandler[Any, Any]) -> None:
        """Register an action; raises ``ValueError`` if the name is taken by another handler."""
        _claim(self.actions, self.action_patterns, "action", handler)

    def find_channel(self, name: object) -> tuple[ChannelHandler[Any, Any], dict[str, str]] | None:
        """The channel a client's name means, with its path values; ``None`` if none does."""
        return _find(self.channels, self.channel_patterns, name)

    def find_action(self, name: object) -> tuple[ActionHandler[Any, Any], dict[str, str]] | None:
        """The action a client's name means, with its path values; ``None`` if none does."""
        return _find(self.actions, self.action_patterns, name)

    def merge(self, other: Registry) -> None:
        """Add every handler of ``other``; nothing is added if any name clashes (or a pattern
        overlaps one of this registry's)."""
        for kind, mine, theirs in (
            ("channel", self.channels, other.channels),
            ("action", self.actions, other.actions),
        ):
            for name, handler in theirs.items():
                existing = mine.get(name)
                if existing is not None and existing is not handler:
                    raise ValueError(f"{kind} {name!r} is already registered by {existing!r}")
        for channel in other.channel_patterns:
            _check_overlap(self.channel_patterns, "channel", channel)
        for action in other.action_patterns:
            _check_overlap(self.action_patterns, "action", action)
        self.channels.update(other.channels)
        self.actions.update(other.actions)
        for channel in other.channel_patterns:
            if channel not in self.channel_patterns:
                self.channel_patterns.append(channel)
        for action in other.action_patterns:
            if action not in self.action_patterns:
                self.action_patterns.append(action)
        # A router included twice (or through two parents) still runs each of these once.
        for lifespan in other.lifespans:
            self.add_lifespan(lifespan)
        for task in other.background_tasks:
            self.add_background_task(task)

    def add_lifespan(self, lifespan: Lifespan) -> None:
        """Run ``lifespan`` around serving, after those added before it (once, however often
        it is added)."""
        if lifespan not in self.lifespans:
            self.lifespans.append(lifespan)

    def add_background_task(self, task: BackgroundTask) -> None:
        """Run ``task`` while serving (once, however often it is added)."""
        if task not in self.background_tasks:
            self.background_tasks.append(task)


HandlerT = TypeVar("HandlerT", "ActionHandler[Any, Any]", "ChannelHandler[Any, Any]")


def _claim(
    table: dict[str, HandlerT], patterns: list[HandlerT], kind: str, handler: HandlerT
) -> None:
    existing = table.get(handler.name)
    if existing is not None and existing is not handler:
        raise ValueError(f"{kind} {handler.name!r} is already registered by {existing!r}")
    if handler.path is not None and existing is None:
        _check_overlap(patterns, kind, handler)
        patterns.append(handler)
    table[handler.name] = handler


def _check_overlap(patterns: list[HandlerT], kind: str, handler: HandlerT) -> None:
    assert handler.path is not None
    for other in patterns:
        if other is not handler and other.path is not None and other.path.overlaps(handler.path):
            raise ValueError(
                f"{kind} {handler.name!r} overlaps {other!r}: some name would match both"
                " (make a segment literal in one of them)"
            )


def _find(
    table: dict[str, HandlerT], patterns: list[HandlerT], name: object
) -> tuple[HandlerT, dict[str, str]] | None:
    if not isinstance(name, str):
        return None
    handler = table.get(name)
    if handler is not None and handler.path is None:
        return handler, {}
    for candidate in patterns:
        assert candidate.path is not None
        values = candidate.path.match(name)
        if values is not None:
            return candidate, values
    return None
