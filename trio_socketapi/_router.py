"""``Router``: declare channels and actions in one module, include them in the app elsewhere."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from ._handlers import ActionHandler, ChannelHandler, decorating_scope
from ._lifecycle import BackgroundTask, Lifespan
from ._registry import Registry

P = ParamSpec("P")
R = TypeVar("R")
LifespanT = TypeVar("LifespanT", bound=Lifespan)
BackgroundTaskT = TypeVar("BackgroundTaskT", bound=BackgroundTask)


class Router:
    """A group of channels and actions; ``SocketAPI.include_router`` serves them.

    Routers change nothing on the wire: every handler keeps its plain name. A decorated function
    works before and after it is included; once included, calling a channel broadcasts.
    """

    def __init__(self) -> None:
        self.registry = Registry()

    def channel(
        self, name: str, *, default_response: bool = True
    ) -> Callable[[Callable[P, Awaitable[R]]], ChannelHandler[P, R]]:
        """Declare a channel. ``default_response`` defaults to ``True`` here, as in socketapi.

        Raises ``ValueError`` if this router already has a channel of that name.
        """

        def decorate(func: Callable[P, Awaitable[R]]) -> ChannelHandler[P, R]:
            handler = ChannelHandler(func, name, default_response, local_names=decorating_scope())
            self.registry.add_channel(handler)
            return handler

        return decorate

    def action(self, name: str) -> Callable[[Callable[P, Awaitable[R]]], ActionHandler[P, R]]:
        """Declare an action. Raises ``ValueError`` if this router already has one of that name."""

        def decorate(func: Callable[P, Awaitable[R]]) -> ActionHandler[P, R]:
            handler = ActionHandler(func, name, local_names=decorating_scope())
            self.registry.add_action(handler)
            return handler

        return decorate

    def lifespan(self, func: LifespanT) -> LifespanT:
        """Register an async generator function that sets up before serving and tears down after.

        The code before its one ``yield`` runs once the server is ready to broadcast and before
        the first connection is accepted (an exception there stops ``serve`` with that error);
        the code after it runs once every connection has closed, also when serving stopped on
        an error, shielded from cancellation for at most ``settings.shutdown_timeout``.
        Lifespans start in registration order and end in reverse. Returns ``func`` unchanged.
        """
        self.registry.add_lifespan(func)
        return func

    def background(self, func: BackgroundTaskT) -> BackgroundTaskT:
        """Register ``async def func()`` to run for as long as the server serves.

        Started after the lifespans, before the first connection is accepted; cancelled when
        shutdown begins, before the clients are closed and the lifespans end. An exception in
        it stops the server, and ``serve`` raises it. Returns ``func`` unchanged.
        """
        self.registry.add_background_task(func)
        return func

    def include_router(self, router: Router) -> None:
        """Add another router's handlers to this one (before this one is included in an app).

        Raises ``ValueError``, adding nothing, if a name is already taken by another handler.
        """
        self.registry.merge(router.registry)
