"""The dispatch registry: channel and action names to their handlers, one name one handler;
and the lifespans and background tasks that run while the app is served."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

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
        self.lifespans: list[Lifespan] = []
        self.background_tasks: list[BackgroundTask] = []

    def add_channel(self, handler: ChannelHandler[Any, Any]) -> None:
        """Register a channel; raises ``ValueError`` if the name is taken by another handler."""
        _claim(self.channels, "channel", handler)

    def add_action(self, handler: ActionHandler[Any, Any]) -> None:
        """Register an action; raises ``ValueError`` if the name is taken by another handler."""
        _claim(self.actions, "action", handler)

    def merge(self, other: Registry) -> None:
        """Add every handler of ``other``; nothing is added if any name clashes."""
        for kind, mine, theirs in (
            ("channel", self.channels, other.channels),
            ("action", self.actions, other.actions),
        ):
            for name, handler in theirs.items():
                existing = mine.get(name)
                if existing is not None and existing is not handler:
                    raise ValueError(f"{kind} {name!r} is already registered by {existing!r}")
        self.channels.update(other.channels)
        self.actions.update(other.actions)
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


def _claim(table: dict[str, Any], kind: str, handler: Any) -> None:
    existing = table.get(handler.name)
    if existing is not None and existing is not handler:
        raise ValueError(f"{kind} {handler.name!r} is already registered by {existing!r}")
    table[handler.name] = handler
