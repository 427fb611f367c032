"""``lifespan`` and ``background``, the decorators ``SocketAPI`` and ``Router`` share.

What runs them around a server, and in which order, is ``open_server`` in _server.py.
"""

from __future__ import annotations

import sys
from typing import TypeVar

from ._registry import BackgroundTask, Lifespan, Registry

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

LifespanT = TypeVar("LifespanT", bound=Lifespan)
BackgroundTaskT = TypeVar("BackgroundTaskT", bound=BackgroundTask)


class LifecycleDecorators:
    """``lifespan`` and ``background``, the same on ``SocketAPI`` and ``Router``."""

    _registry: Registry

    def lifespan(self, func: LifespanT) -> LifespanT:
        """Register an async generator function that sets up before serving and tears down after.

        The code before its one ``yield`` runs once the server is ready to broadcast and before
        the first connection is accepted (an exception there stops ``serve`` with that error);
        the code after it runs once every connection has closed, also when serving stopped on
        an error, shielded from cancellation for at most ``settings.shutdown_timeout``.
        Lifespans start in registration order and end in reverse. Returns ``func`` unchanged.
        """
        self._registry.add_lifespan(func)
        return func

    def background(self, func: BackgroundTaskT) -> BackgroundTaskT:
        """Register ``async def func()`` to run for as long as the server serves.

        Started after the lifespans, before the first connection is accepted; cancelled when
        shutdown begins, before the clients are closed and the lifespans end. An exception in
        it stops the server, and ``serve`` raises it. Returns ``func`` unchanged.
        """
        self._registry.add_background_task(func)
        return func


def single_error(exc: Exception) -> Exception:
    """The one error inside nested single-error exception groups, else ``exc`` itself."""
    while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc
