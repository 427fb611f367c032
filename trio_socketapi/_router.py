"""``Router``: declare channels and actions in one module, include them in the app elsewhere."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from ._handlers import ActionHandler, ChannelHandler, decorating_scope
from ._history import History
from ._lifecycle import LifecycleDecorators
from ._registry import Registry

P = ParamSpec("P")
R = TypeVar("R")


class Router(LifecycleDecorators):
    """A group of channels and actions; ``SocketAPI.include_router`` serves them.

    Routers change nothing on the wire: every handler keeps its plain name. A decorated function
    works before and after it is included; once included, calling a channel broadcasts.
    """

    def __init__(self) -> None:
        self._registry = Registry()

    def channel(
        self,
        name: str,
        *,
        default_response: bool = True,
        history: History | None = None,
        presence: bool = False,
    ) -> Callable[[Callable[P, Awaitable[R]]], ChannelHandler[P, R]]:
        """Declare a channel. ``default_response`` defaults to ``True`` here, as in socketapi;
        ``history`` keeps its publications for recovery, ``presence`` tracks who is subscribed
        (docs/history.md).

        Raises ``ValueError`` if this router already has a channel of that name.
        """

        def decorate(func: Callable[P, Awaitable[R]]) -> ChannelHandler[P, R]:
            handler = ChannelHandler(
                func,
                name,
                default_response,
                history=history,
                presence=presence,
                local_names=decorating_scope(),
            )
            self._registry.add_channel(handler)
            return handler

        return decorate

    def action(self, name: str) -> Callable[[Callable[P, Awaitable[R]]], ActionHandler[P, R]]:
        """Declare an action. Raises ``ValueError`` if this router already has one of that name."""

        def decorate(func: Callable[P, Awaitable[R]]) -> ActionHandler[P, R]:
            handler = ActionHandler(func, name, local_names=decorating_scope())
            self._registry.add_action(handler)
            return handler

        return decorate

    def include_router(self, router: Router) -> None:
        """Add another router's handlers to this one (before this one is included in an app).

        Raises ``ValueError``, adding nothing, if a name is already taken by another handler.
        """
        self._registry.merge(router._registry)
